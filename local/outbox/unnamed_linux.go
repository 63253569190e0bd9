package outbox

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// errNoUnnamed says the directory's file system cannot create unnamed files.
var errNoUnnamed = errors.New("outbox: unnamed files not supported")

// writeUnnamed writes data to an unnamed file in dir and links it at path.
func writeUnnamed(dir, path string, data []byte, sync bool) error {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EINVAL):
		return errNoUnnamed
	case err != nil:
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	// Linking a file by descriptor needs either /proc or a capability;
	// /proc is there on every Linux this runs on, but say so if not.
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			return errNoUnnamed
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: path, Err: err}
	}
	return nil
}
