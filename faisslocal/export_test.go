//go:build faiss

package faisslocal

// SetCompactHook sets the function a background compaction calls between
// building its index and swapping it in; nil removes it.
func SetCompactHook(f func()) { compactHook = f }

// FileSystem is the file-system seam (see fsys.go).
type FileSystem = fileSystem

// SetFileSystem sets the file system the store's durable operations go
// through and returns the one it replaces; nil restores the operating
// system's. Only while no store is open.
func SetFileSystem(f FileSystem) FileSystem {
	old := fsys
	if f == nil {
		f = osFS{}
	}
	fsys = f
	return old
}
