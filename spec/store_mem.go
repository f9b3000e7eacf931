package spec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"twostage"
	"twostage/adapters/memstore"
)

// The mem: scheme opens the exact in-memory store; mem:FILE.snap loads FILE
// and saves it on close, holding FILE.snap.lock while open.
func init() {
	mustRegister(RegisterStore("mem", "exact in-memory store; mem:FILE.snap loads FILE and saves it on close (a binary snapshot)", openMem, openMemReadOnly))
}

// memFile is a memstore that saves its documents to a file on Close. It
// holds FILE.lock while open.
type memFile struct {
	*memstore.Driver
	path string
	lock *os.File
}

// openMemReadOnly loads a mem:FILE snapshot without saving it on close.
func openMemReadOnly(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	st, err := openMem(ctx, spec, info)
	if err != nil {
		return nil, err
	}
	var mf *memFile
	if st.As(&mf) {
		// A read-only view holds no lock: the snapshot is already loaded.
		if err := closeLock(mf.lock); err != nil {
			return nil, errors.Join(fmt.Errorf("spec: mem store: %w", err), mf.Driver.Close())
		}
		return twostage.NewStore(mf.Driver), nil
	}
	return st, nil
}

func openMem(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	d, err := memstore.NewDriver(info.Dim, info.Metric)
	if err != nil {
		return nil, err
	}
	path := Arg(spec)
	if path == "" {
		return twostage.NewStore(d), nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json", ".csv", ".txt":
		// The file is a binary snapshot: a name that promises text would
		// be read by people and programs as what it is not.
		return nil, errors.Join(d.Close(), badf("mem store %s: the file is a binary snapshot, not %s; name it like FILE.snap (twostage index --file reads JSON lines and CSV)",
			path, strings.TrimPrefix(filepath.Ext(path), ".")))
	}
	lock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, errors.Join(fmt.Errorf("spec: mem store: %w", err), closeLock(lock))
	default:
		_, err = d.ReadFrom(f)
		f.Close()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("spec: mem store %s: %w", path, err), closeLock(lock))
		}
	}
	return twostage.NewStore(&memFile{d, path, lock}), nil
}

func closeLock(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}

// Close writes the snapshot atomically (temporary file, then rename) and
// releases the lock.
func (m *memFile) Close() error {
	err := m.save()
	return errors.Join(err, closeLock(m.lock))
}

func (m *memFile) save() error {
	if err := os.MkdirAll(filepath.Dir(m.path), 0o700); err != nil {
		return fmt.Errorf("spec: mem store: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(m.path), ".snapshot-*")
	if err != nil {
		return fmt.Errorf("spec: mem store: %w", err)
	}
	_, err = m.Driver.WriteTo(tmp)
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), m.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("spec: mem store: save %s: %w", m.path, err)
	}
	return m.Driver.Close()
}
