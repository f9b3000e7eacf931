//go:build faiss

package faisslocal

// SetCompactHook sets the function a background compaction calls between
// building its index and swapping it in; nil removes it.
func SetCompactHook(f func()) { compactHook = f }
