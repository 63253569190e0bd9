package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// lockDataDir makes sure only one runtime uses a data directory: two would
// each take the other's leases for dead (see Start) and poll the same
// queues. The CLI's inspection commands do not take this lock.
func lockDataDir(dir string) (func() error, error) {
	f, err := os.OpenFile(filepath.Join(dir, "runtime.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("local: another mailflow dev is already using %s", dir)
		}
		return nil, fmt.Errorf("local: lock %s: %w", dir, err)
	}
	return func() error {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return f.Close()
	}, nil
}
