package datadir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ManifestFormat is the format of the manifest this version writes and
// reads.
const ManifestFormat = 1

// StoreFiles are the store files a data directory has, in the order they
// are opened. Each carries the directory's identity (see [Dir.Claim]).
var StoreFiles = []string{QueuesFile, LocksFile, ExecutionsFile, FeedbackFile, OutcomesFile}

// laterStores are the store files added after the first manifests were
// written: a manifest may lack them (see [Dir.Claim]).
var laterStores = []string{FeedbackFile, OutcomesFile}

// firstStores are the store files every manifest lists, and every
// directory of an older mailflow had.
func firstStores() []string {
	var out []string
	for _, name := range StoreFiles {
		if !slices.Contains(laterStores, name) {
			out = append(out, name)
		}
	}
	return out
}

// Manifest is the identity of a data directory, kept in ManifestFile.
type Manifest struct {
	Format int `json:"format"`
	// ID is random, made when the directory was created (or adopted); every
	// store file carries it.
	ID string `json:"id"`
	// Created is when the manifest was first written: when the directory
	// was created, or, for an adopted one, adopted.
	Created time.Time `json:"created"`
	// Stores are the store files of the directory: all of StoreFiles, or,
	// in a manifest written before a later one was added, all but it.
	Stores []string `json:"stores"`
	// Adopted is when a directory of an older mailflow, which had store
	// files and no manifest, was given this manifest.
	Adopted *time.Time `json:"adopted,omitempty"`
	// Pending are the store files not stamped with ID yet: the start that
	// writes the manifest stamps them next, creating those that do not
	// exist (a new directory), and then rewrites the manifest without
	// them. A start interrupted in between finishes the job.
	Pending []string `json:"pending,omitempty"`
}

var idPattern = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// validate checks a manifest read from disk.
func (m Manifest) validate() error {
	var problems []string
	if !idPattern.MatchString(m.ID) {
		problems = append(problems, fmt.Sprintf("id %q is not 26 characters of A-Z and 2-7", m.ID))
	}
	if m.Created.IsZero() {
		problems = append(problems, "created is missing")
	}
	if !validStores(m.Stores) {
		problems = append(problems, fmt.Sprintf("stores %q must be %q", m.Stores, StoreFiles))
	}
	for _, p := range m.Pending {
		if !slices.Contains(StoreFiles, p) {
			problems = append(problems, fmt.Sprintf("pending %q is not a store file", p))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// validStores: every first store, any of the later ones, each once.
func validStores(stores []string) bool {
	var first []string
	for _, name := range stores {
		if !slices.Contains(laterStores, name) {
			first = append(first, name)
		}
	}
	got := sortedCopy(slices.Compact(sortedCopy(stores)))
	return len(got) == len(stores) && slices.Equal(sortedCopy(first), sortedCopy(firstStores())) &&
		!slices.ContainsFunc(stores, func(n string) bool { return !slices.Contains(StoreFiles, n) })
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// ReadManifest reads and checks ManifestFile; false when there is none.
// A file that does not decode, has a format this version does not know
// or breaks a rule is an error naming the file.
func (d Dir) ReadManifest() (Manifest, bool, error) {
	var m Manifest
	path := d.join(ManifestFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("local: %w", err)
	}
	bad := func(reason string) *Refusal {
		return &Refusal{Dir: d.path, File: ManifestFile, Reason: ManifestFile + " " + reason}
	}
	var head struct {
		Format *int `json:"format"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return m, false, bad("is not valid JSON: " + err.Error())
	}
	switch {
	case head.Format == nil:
		return m, false, bad("has no format")
	case *head.Format != ManifestFormat:
		r := bad(fmt.Sprintf("has format %d; this mailflow reads format %d", *head.Format, ManifestFormat))
		r.Remedy = "Run the mailflow that wrote it, or start a new data directory explicitly: " + newDirCommand
		return m, false, r
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, false, bad("does not decode: " + err.Error())
	}
	if err := m.validate(); err != nil {
		return m, false, bad("is invalid: " + err.Error())
	}
	return m, true, nil
}

// writeManifest replaces ManifestFile atomically: a crash leaves the old
// manifest or the new one, never a part of one. The temporary file and
// the directory are synced, so the rename survives a power cut too.
func (d Dir) writeManifest(m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f, err := os.CreateTemp(d.path, ManifestFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("local: write the manifest: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone after the rename; left only on failure
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("local: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("local: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("local: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, d.join(ManifestFile)); err != nil {
		return fmt.Errorf("local: write the manifest: %w", err)
	}
	return syncDir(d.path)
}

func syncDir(path string) error {
	dir, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("local: sync %s: %w", path, err)
	}
	return nil
}

// newDirCommand is how a user starts over without touching a directory
// that was refused.
const newDirCommand = "mailflow dev --data NEW-DIR (a new or empty directory); the refused directory is left as it is"

// Refusal is why a data directory is not used as it is: a store file is
// missing, belongs to another data directory or carries no identity, or
// the manifest is unreadable. Nothing in the directory is changed.
type Refusal struct {
	Dir    string // the data directory
	File   string // the entry at fault: a store file or ManifestFile
	Reason string // what is wrong with it, naming it
	Remedy string // the way out; "" for restoring File or a new directory
}

func (r *Refusal) Error() string {
	remedy := r.Remedy
	if remedy == "" {
		remedy = fmt.Sprintf("Restore %s from where it was, or start a new data directory explicitly: %s",
			filepath.Join(r.Dir, r.File), newDirCommand)
	}
	return fmt.Sprintf("local: data directory %s: %s. %s", r.Dir, r.Reason, remedy)
}
