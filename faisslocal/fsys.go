package faisslocal

import "os"

// fileSystem is the seam faisslocal's durable file operations go through:
// the fsyncs, renames and removals whose order decides what a crash leaves
// on disk (creating and writing files goes straight to the os package, and
// bbolt keeps its own file). The crash-consistency test swaps in a recorder
// that replays, at every one of these operations, only what had been synced
// (see crashfs_test.go).
type fileSystem interface {
	// Sync fsyncs f, a file or a directory.
	Sync(f *os.File) error
	Rename(oldpath, newpath string) error
	Remove(path string) error
}

// osFS is the operating system.
type osFS struct{}

func (osFS) Sync(f *os.File) error                { return f.Sync() }
func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osFS) Remove(path string) error             { return os.Remove(path) }

// fsys is the file system in use: osFS except inside the crash test, which
// sets it while no store is open.
var fsys fileSystem = osFS{}
