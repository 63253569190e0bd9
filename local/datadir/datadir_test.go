package datadir_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/internal/sqlitedb"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/sqsstore"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func claim(t *testing.T, d datadir.Dir) datadir.Claimed {
	t.Helper()
	c, err := d.Claim(now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// refusal checks that err refuses file, naming it and the way out.
func refusal(t *testing.T, err error, file, says string) {
	t.Helper()
	var r *datadir.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a refusal of %s, got %v", file, err)
	}
	if r.File != file {
		t.Errorf("refusal of %s, want %s: %v", r.File, file, err)
	}
	for _, want := range []string{file, says, "mailflow dev --data NEW-DIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

// openAll opens and closes the stores, as a runtime does.
func openAll(t *testing.T, d datadir.Dir) {
	t.Helper()
	q, err := d.OpenQueues(sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	l, err := d.OpenLocks()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	e, err := d.OpenExecutions()
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	o, err := d.OpenOutcomes(nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
}

func TestClaimInitialisesANewDirectory(t *testing.T) {
	t.Parallel()
	d := datadir.New(t.TempDir())
	// What a directory may hold before its first start: no store file.
	if err := os.MkdirAll(d.Outbox(), 0o700); err != nil {
		t.Fatal(err)
	}
	c := claim(t, d)
	if !c.Initialised || c.Adopted {
		t.Fatalf("claimed %+v, want initialised", c)
	}
	m, ok, err := d.ReadManifest()
	if err != nil || !ok {
		t.Fatalf("manifest: %v %v", ok, err)
	}
	if m.Format != datadir.ManifestFormat || m.ID != c.Manifest.ID || len(m.ID) != 26 || !m.Created.Equal(now) ||
		strings.Join(m.Stores, ",") != "queues.db,locks.db,executions.db,feedback.db,outcomes.db" || m.Pending != nil || m.Adopted != nil {
		t.Fatalf("manifest %+v", m)
	}
	for _, name := range datadir.StoreFiles {
		if _, err := os.Stat(filepath.Join(d.Path(), name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(d.Path(), "*.tmp*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	openAll(t, d)
	again := claim(t, d)
	if again.Initialised || again.Adopted || again.Manifest.ID != c.Manifest.ID {
		t.Fatalf("second claim %+v, first %+v", again, c)
	}
	if other := claim(t, datadir.New(t.TempDir())); other.Manifest.ID == c.Manifest.ID {
		t.Fatal("two directories got the same id")
	}
}

func TestClaimRefusesAMissingStore(t *testing.T) {
	t.Parallel()
	for _, name := range datadir.StoreFiles {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := datadir.New(t.TempDir())
			claim(t, d)
			openAll(t, d)
			path := filepath.Join(d.Path(), name)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			_, err := d.Claim(now)
			refusal(t, err, name, "is missing")
			// Opening it is refused too, rather than creating an empty one.
			var open error
			switch name {
			case datadir.QueuesFile:
				_, open = d.OpenQueues(sqsstore.Options{})
			case datadir.LocksFile:
				_, open = d.OpenLocks()
			case datadir.OutcomesFile:
				_, open = d.OpenOutcomes(nil)
			case datadir.FeedbackFile:
				_, open = d.OpenFeedback()
			default:
				_, open = d.OpenExecutions()
			}
			refusal(t, open, name, "is missing")
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s was recreated: %v", name, err)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(to + suffix)
	}
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestClaimRefusesAStoreOfAnotherDirectory(t *testing.T) {
	t.Parallel()
	for _, name := range datadir.StoreFiles {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mine, theirs := datadir.New(t.TempDir()), datadir.New(t.TempDir())
			my, their := claim(t, mine), claim(t, theirs)
			openAll(t, mine)
			openAll(t, theirs)
			copyFile(t, filepath.Join(theirs.Path(), name), filepath.Join(mine.Path(), name))
			_, err := mine.Claim(now)
			refusal(t, err, name, "belongs to another data directory")
			for _, id := range []string{my.Manifest.ID, their.Manifest.ID} {
				if !strings.Contains(err.Error(), id) {
					t.Errorf("%q does not name the identity %s", err, id)
				}
			}
		})
	}
}

func TestClaimRefusesAStoreWithoutIdentity(t *testing.T) {
	t.Parallel()
	d := datadir.New(t.TempDir())
	claim(t, d)
	path := filepath.Join(d.Path(), datadir.LocksFile)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// A new empty file in its place, as a store opened on its own makes.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := d.Claim(now)
	refusal(t, err, datadir.LocksFile, "carries no data directory identity")
}

// olderDirectory makes the directory an older mailflow left: the three
// stores, no manifest, no identity.
func olderDirectory(t *testing.T, stores ...string) datadir.Dir {
	t.Helper()
	d := datadir.New(t.TempDir())
	for _, name := range stores {
		db, err := sqlitedb.Open(filepath.Join(d.Path(), name), sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('older')`); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	return d
}

func TestClaimAdoptsADirectoryOfAnOlderVersion(t *testing.T) {
	t.Parallel()
	d := olderDirectory(t, datadir.StoreFiles...)
	c := claim(t, d)
	if !c.Adopted || c.Initialised || c.Manifest.Adopted == nil || !c.Manifest.Adopted.Equal(now) || c.Manifest.Pending != nil {
		t.Fatalf("claimed %+v, want adopted", c)
	}
	for _, name := range datadir.StoreFiles {
		db, err := sqlitedb.Open(filepath.Join(d.Path(), name), sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var v, id string
		if err := db.QueryRow(`SELECT v FROM kept`).Scan(&v); err != nil || v != "older" {
			t.Errorf("%s lost its data: %q %v", name, v, err)
		}
		if err := db.QueryRow(`SELECT id FROM datadir_identity`).Scan(&id); err != nil || id != c.Manifest.ID {
			t.Errorf("%s stamped %q (%v), want %s", name, id, err, c.Manifest.ID)
		}
		db.Close()
	}
	if again := claim(t, d); again.Adopted || again.Manifest.ID != c.Manifest.ID {
		t.Fatalf("adopted twice: %+v", again)
	}
	// Once adopted, the directory is guarded like a new one.
	os.Remove(filepath.Join(d.Path(), datadir.LocksFile))
	_, err := d.Claim(now)
	refusal(t, err, datadir.LocksFile, "is missing")
}

// TestClaimAddsALaterStore: a directory whose manifest was written before
// outcomes.db existed gets it at the next start, created and stamped; until
// then opening it is refused with a message saying why, and nothing is
// created.
func TestClaimAddsALaterStore(t *testing.T) {
	t.Parallel()
	d := datadir.New(t.TempDir())
	m := claim(t, d).Manifest
	os.Remove(filepath.Join(d.Path(), datadir.OutcomesFile))
	m.Stores = []string{datadir.QueuesFile, datadir.LocksFile, datadir.ExecutionsFile}
	writeManifest(t, d, m)
	if _, err := d.OpenOutcomes(nil); err == nil || !strings.Contains(err.Error(), "has no outcomes.db yet") {
		t.Fatalf("opening outcomes.db before the directory got it: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.Path(), datadir.OutcomesFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("outcomes.db created by a reader: %v", err)
	}
	c := claim(t, d)
	if c.Initialised || c.Adopted || c.Manifest.ID != m.ID || c.Manifest.Pending != nil ||
		strings.Join(c.Manifest.Stores, ",") != "queues.db,locks.db,executions.db,feedback.db,outcomes.db" {
		t.Fatalf("claimed %+v", c)
	}
	openAll(t, d)
	// Now it is guarded like the others.
	os.Remove(filepath.Join(d.Path(), datadir.OutcomesFile))
	_, err := d.Claim(now)
	refusal(t, err, datadir.OutcomesFile, "is missing")
}

func TestOpenOutcomesNeedsAClaimedDirectory(t *testing.T) {
	t.Parallel()
	d := datadir.New(t.TempDir())
	if _, err := d.OpenOutcomes(nil); err == nil || !strings.Contains(err.Error(), "holds no outcome events") {
		t.Fatalf("opened in a directory never started: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.Path(), datadir.OutcomesFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s created by a reader: %v", datadir.OutcomesFile, err)
	}
	claim(t, d) // the directory is still new
}

func TestClaimAdoptsAnOlderDirectoryWithoutTheLaterStore(t *testing.T) {
	t.Parallel()
	d := olderDirectory(t, datadir.QueuesFile, datadir.LocksFile, datadir.ExecutionsFile)
	c := claim(t, d)
	if !c.Adopted || c.Manifest.Pending != nil || len(c.Manifest.Stores) != len(datadir.StoreFiles) {
		t.Fatalf("claimed %+v, want adopted with every store", c)
	}
	openAll(t, d)
}

func TestClaimRefusesAnIncompleteOlderDirectory(t *testing.T) {
	t.Parallel()
	d := olderDirectory(t, datadir.QueuesFile, datadir.ExecutionsFile)
	_, err := d.Claim(now)
	refusal(t, err, datadir.LocksFile, "locks.db is missing")
	if _, ok, _ := d.ReadManifest(); ok {
		t.Fatal("a manifest was written for a refused directory")
	}
}

func TestClaimRefusesStoresWithoutTheirManifest(t *testing.T) {
	t.Parallel()
	d := datadir.New(t.TempDir())
	c := claim(t, d)
	if err := os.Remove(filepath.Join(d.Path(), datadir.ManifestFile)); err != nil {
		t.Fatal(err)
	}
	_, err := d.Claim(now)
	refusal(t, err, datadir.ManifestFile, "the manifest was removed")
	if !strings.Contains(err.Error(), c.Manifest.ID) {
		t.Errorf("%q does not name the identity found", err)
	}
}

func writeManifest(t *testing.T, d datadir.Dir, m any) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Path(), datadir.ManifestFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestClaimFinishesAnInterruptedStart: a start that stopped after writing
// the manifest and before stamping every store file is finished by the
// next one, which creates what a new directory lacks but never what an
// adopted one lost.
func TestClaimFinishesAnInterruptedStart(t *testing.T) {
	t.Parallel()
	d := datadir.New(t.TempDir())
	m := claim(t, d).Manifest
	os.Remove(filepath.Join(d.Path(), datadir.LocksFile))
	m.Pending = []string{datadir.LocksFile}
	writeManifest(t, d, m)
	if c := claim(t, d); c.Manifest.Pending != nil {
		t.Fatalf("still pending: %+v", c.Manifest)
	}
	if got, _, _ := d.ReadManifest(); got.Pending != nil {
		t.Fatalf("manifest still pending: %+v", got)
	}
	claim(t, d) // locks.db is stamped now

	adopted := olderDirectory(t, datadir.StoreFiles...)
	m = claim(t, adopted).Manifest
	os.Remove(filepath.Join(adopted.Path(), datadir.LocksFile))
	m.Pending = []string{datadir.LocksFile}
	writeManifest(t, adopted, m)
	_, err := adopted.Claim(now)
	refusal(t, err, datadir.LocksFile, "is missing")
}

func TestReadManifestChecksItsContent(t *testing.T) {
	t.Parallel()
	good := claim(t, datadir.New(t.TempDir())).Manifest
	for _, tc := range []struct {
		name string
		raw  string
		m    func(m map[string]any)
		says string
	}{
		{name: "not JSON", raw: `{"format": 1,`, says: "manifest.json is not valid JSON"},
		{name: "no format", m: func(m map[string]any) { delete(m, "format") }, says: "has no format"},
		{name: "newer format", m: func(m map[string]any) { m["format"] = 2 }, says: "has format 2; this mailflow reads format 1"},
		{name: "unknown field", m: func(m map[string]any) { m["owner"] = "me" }, says: `unknown field "owner"`},
		{name: "bad id", m: func(m map[string]any) { m["id"] = "x" }, says: `id "x" is not`},
		{name: "no created", m: func(m map[string]any) { delete(m, "created") }, says: "created is missing"},
		{name: "stores", m: func(m map[string]any) { m["stores"] = []string{"locks.db"} }, says: `stores ["locks.db"] must be`},
		{name: "pending", m: func(m map[string]any) { m["pending"] = []string{"x.db"} }, says: `pending "x.db" is not a store file`},
		{name: "trailing data", raw: `{"format": 1} {}`, says: "is not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := datadir.New(t.TempDir())
			raw := []byte(tc.raw)
			if tc.m != nil {
				b, _ := json.Marshal(good)
				var m map[string]any
				json.Unmarshal(b, &m)
				tc.m(m)
				raw, _ = json.Marshal(m)
			}
			if err := os.WriteFile(filepath.Join(d.Path(), datadir.ManifestFile), raw, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := d.ReadManifest()
			var r *datadir.Refusal
			if !errors.As(err, &r) || r.File != datadir.ManifestFile || !strings.Contains(err.Error(), tc.says) ||
				!strings.Contains(err.Error(), filepath.Join(d.Path(), "")) {
				t.Fatalf("got %v, want a refusal of manifest.json saying %q", err, tc.says)
			}
			if _, err := d.Claim(now); err == nil {
				t.Fatal("claimed with a bad manifest")
			}
		})
	}
}

// TestHasDataWithoutTheExecutionStore: a claimed directory that lost its
// execution store still has data, so the inspection commands report the
// missing file rather than an unused directory.
func TestHasDataWithoutTheExecutionStore(t *testing.T) {
	t.Parallel()
	d := datadir.New(t.TempDir())
	if d.HasData() {
		t.Fatal("an empty directory has data")
	}
	claim(t, d)
	os.Remove(filepath.Join(d.Path(), datadir.ExecutionsFile))
	if !d.HasData() {
		t.Fatal("a claimed directory has no data")
	}
	_, err := d.OpenExecutions()
	refusal(t, err, datadir.ExecutionsFile, "is missing")
}
