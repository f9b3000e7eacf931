//go:build unix

package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"twostage"
)

// lockFile takes an exclusive advisory lock on path+".lock", so two
// processes cannot use one mem:FILE and overwrite each other's saves. The
// lock lasts until the returned file is closed (or the process ends).
func lockFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("spec: mem store: %w", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spec: mem store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("spec: mem store %s: in use by another process (%s.lock is held): %w", path, path, twostage.ErrUnavailable)
		}
		return nil, fmt.Errorf("spec: mem store %s: lock: %w", path, err)
	}
	return f, nil
}
