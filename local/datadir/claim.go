package datadir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// holds says what a store file keeps, that an empty new one would lose.
var holds = map[string]string{
	QueuesFile:     "the queued mail and the dead-letter queue: mail not sent yet would be lost",
	LocksFile:      "the dedup locks: a mail already sent would be sent again when it is resent or redelivered",
	ExecutionsFile: "the execution history: what was sent, and why the rest was not, would be forgotten",
	FeedbackFile:   "the delivery records and the suppression list: an address that bounced or complained would be mailed again",
	OutcomesFile:   "the outcome events and their webhook deliveries: pending deliveries would never be made",
}

// Claimed is what [Dir.Claim] found or made.
type Claimed struct {
	Manifest Manifest
	// Initialised: the directory was new or empty and got its manifest and
	// its store files now.
	Initialised bool
	// Adopted: the directory was made by an older mailflow (store files,
	// no manifest) and got its manifest now.
	Adopted bool
}

// Claim makes sure the store files are this directory's own before they
// are opened, and gives a directory without a manifest one:
//
//   - with a manifest, every store file it lists must exist and carry its
//     id; a missing one, one with another directory's id and one with no
//     id are refused ([*Refusal]), never replaced by an empty one;
//   - a new or empty directory (no store file) gets a manifest with a new
//     random id, then its store files, each stamped with that id;
//   - a directory of an older mailflow (all store files, none with an id,
//     no manifest) is adopted: a manifest with a new id is written and the
//     files are stamped with it. Some store files but not all, or a store
//     file with an id and no manifest (the manifest was removed), are
//     refused.
//
// now is the creation (or adoption) time written in the manifest. Only the
// runtime holding [Dir.Lock] may claim the directory.
func (d Dir) Claim(now time.Time) (Claimed, error) {
	m, found, err := d.ReadManifest()
	if err != nil {
		return Claimed{}, err
	}
	var c Claimed
	if !found {
		if m, err = d.newManifest(now.UTC()); err != nil {
			return Claimed{}, err
		}
		c.Initialised, c.Adopted = m.Adopted == nil, m.Adopted != nil
	} else if m, err = d.addLaterStores(m); err != nil {
		return Claimed{}, err
	}
	for _, name := range StoreFiles {
		needsStamp, err := d.checkStore(m, name)
		if err != nil {
			return Claimed{}, err
		}
		if needsStamp {
			if err := stamp(d.join(name), m.ID); err != nil {
				return Claimed{}, err
			}
		}
	}
	if len(m.Pending) > 0 {
		m.Pending = nil
		if err := d.writeManifest(m); err != nil {
			return Claimed{}, err
		}
	}
	c.Manifest = m
	return c, nil
}

// addLaterStores adds to the manifest of a directory made before them the
// store files added since, pending: Claim creates and stamps them next.
func (d Dir) addLaterStores(m Manifest) (Manifest, error) {
	var added []string
	for _, name := range laterStores {
		if !slices.Contains(m.Stores, name) {
			added = append(added, name)
		}
	}
	if len(added) == 0 {
		return m, nil
	}
	m.Stores = append(slices.Clone(m.Stores), added...)
	m.Pending = append(slices.Clone(m.Pending), added...)
	return m, d.writeManifest(m)
}

// newManifest writes the manifest of a directory that has none: a new one,
// or one an older mailflow made. Its store files are pending: Claim stamps
// them next.
func (d Dir) newManifest(now time.Time) (Manifest, error) {
	m := Manifest{Format: ManifestFormat, ID: rand.Text(), Created: now,
		Stores: slices.Clone(StoreFiles), Pending: slices.Clone(StoreFiles)}
	var present, missing []string
	for _, name := range StoreFiles {
		ok, err := d.exists(name)
		if err != nil {
			return m, err
		}
		if !ok {
			if !slices.Contains(laterStores, name) { // an older mailflow had no later store
				missing = append(missing, name)
			}
			continue
		}
		present = append(present, name)
		id, err := readStamp(d.join(name))
		if err != nil {
			return m, err
		}
		if id != "" {
			return m, &Refusal{Dir: d.path, File: ManifestFile, Reason: fmt.Sprintf(
				"there is no %s, yet %s carries the data directory identity %s: the manifest was removed, or %s was copied here from another directory",
				ManifestFile, name, id, name)}
		}
	}
	if len(present) > 0 {
		if len(missing) > 0 {
			r := &Refusal{Dir: d.path, File: missing[0], Reason: fmt.Sprintf(
				"it has the store files of an older mailflow (%s, no %s) but %s missing: an older mailflow created %s together, so %s",
				strings.Join(present, ", "), ManifestFile, isOrAre(missing), strings.Join(firstStores(), ", "), lost(missing))}
			if len(missing) > 1 {
				r.Remedy = fmt.Sprintf("Restore %s in %s from where they were, or start a new data directory explicitly: %s",
					strings.Join(missing, " and "), d.path, newDirCommand)
			}
			return m, r
		}
		m.Adopted = &now
	}
	return m, d.writeManifest(m)
}

// checkStore reports whether a store file is this directory's (false) or
// is still to be stamped (true), and refuses it otherwise.
func (d Dir) checkStore(m Manifest, name string) (needsStamp bool, err error) {
	pending := slices.Contains(m.Pending, name)
	refuse := func(format string, args ...any) error {
		return &Refusal{Dir: d.path, File: name, Reason: fmt.Sprintf(format, args...)}
	}
	ok, err := d.exists(name)
	if err != nil {
		return false, err
	}
	if !ok {
		// Only the files of a new directory are created, and the later
		// ones; an adopted one had the others.
		if pending && (m.Adopted == nil || slices.Contains(laterStores, name)) {
			return true, nil
		}
		return false, refuse("%s is missing: it was created with this directory (%s, id %s) and holds %s",
			name, ManifestFile, m.ID, holds[name])
	}
	id, err := readStamp(d.join(name))
	switch {
	case err != nil:
		return false, err
	case id == m.ID:
		return false, nil
	case id != "":
		return false, refuse("%s belongs to another data directory (it carries the identity %s, %s says %s): it was copied or moved here, and it does not hold %s of this directory",
			name, id, ManifestFile, m.ID, strings.SplitN(holds[name], ":", 2)[0])
	case pending:
		return true, nil
	}
	return false, refuse("%s carries no data directory identity, so it is not the file created with this directory (%s, id %s): it was replaced, by a copy from an older mailflow or by a new empty file",
		name, ManifestFile, m.ID)
}

// checkOpen refuses to open a store file the manifest lists when it is
// missing (opening would create an empty one) or is another directory's.
// A directory without a manifest is left to Claim.
func (d Dir) checkOpen(name string) error {
	m, found, err := d.ReadManifest()
	if err != nil || !found {
		return err
	}
	if !slices.Contains(m.Stores, name) {
		return fmt.Errorf("local: data directory %s has no %s yet: it was made by an earlier mailflow; the next mailflow dev there creates it", d.path, name)
	}
	_, err = d.checkStore(m, name)
	return err
}

func (d Dir) exists(name string) (bool, error) {
	st, err := os.Stat(d.join(name))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("local: %w", err)
	case st.IsDir():
		return false, fmt.Errorf("local: %s is a directory, not a store file", d.join(name))
	}
	return true, nil
}

func isOrAre(names []string) string {
	if len(names) == 1 {
		return names[0] + " is"
	}
	return strings.Join(names, " and ") + " are"
}

// lost says what the missing files held.
func lost(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " held " + holds[n]
	}
	return strings.Join(parts, "; ")
}
