package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	"gopkg.in/yaml.v3"

	"twostage/server"
)

func init() {
	register("serve", "serve search and rerank over HTTP, sharing one reranker engine", cmdServe)
}

func cmdServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	config := fs.String("config", "", "YAML config file (see server/README.md); ${VAR} and TWOSTAGE_* variables override it")
	listen := fs.String("listen", "", "address to listen on, overriding the config's listen")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *config == "" {
		return usageErr("give a config file: twostage serve --config FILE")
	}
	// Read once: ParseConfig builds the config, adoptRecorded reads which
	// keys the file sets.
	raw, err := os.ReadFile(*config)
	if err != nil {
		return usageErr("server: config: %v", err)
	}
	cfg, err := server.ParseConfig(raw, os.Getenv)
	if err != nil {
		return usageErr("%v", err)
	}
	if err := adoptRecorded(cfg, raw); err != nil {
		return usageErr("%v", err)
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := server.Open(ctx, cfg, server.Openers{Store: openRecordedStore}, &server.Options{Logger: log})
	if err != nil {
		return specErr(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), srv.Close())
	}
	// Said at the first Accept: Serve refuses an exposed address before it.
	ln = &announceListener{Listener: ln, announce: func() { fmt.Fprintf(stderr, "twostage serve: listening on http://%s\n", ln.Addr()) }}
	err = srv.Serve(ctx, ln)
	if errors.Is(err, server.ErrExposed) {
		err = fmt.Errorf("%w: %w", err, errUsage)
	}
	return errors.Join(err, srv.Close())
}

// announceListener calls announce once, when the server first accepts.
type announceListener struct {
	net.Listener
	once     sync.Once
	announce func()
}

func (l *announceListener) Accept() (net.Conn, error) {
	l.once.Do(l.announce)
	return l.Listener.Accept()
}

// adoptRecorded gives each collection over an embedded store that recorded
// how it was built (faiss:DIR, mem:FILE) the recorded metric and embedder,
// unless the collection in the config file (raw) sets them itself: a store
// is served as it was built unless the config says otherwise, and then
// openRecordedStore reports a contradiction.
func adoptRecorded(cfg *server.Config, raw []byte) error {
	var doc struct {
		Collections map[string]map[string]any `yaml:"collections"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for name, cc := range cfg.Collections {
		_, setPath, ok := embeddedStore(cc.Store)
		if !ok {
			continue
		}
		rec, err := readSettings(setPath)
		if err != nil || rec == nil {
			continue // openRecordedStore reports a settings file it cannot read
		}
		set := doc.Collections[name]
		if _, ok := set["metric"]; !ok && rec.Metric != "" {
			cc.Metric = string(rec.Metric)
		}
		if _, ok := set["embedder"]; !ok && rec.Embedder != "" {
			cc.Embedder = rec.Embedder
		}
		cfg.Collections[name] = cc
	}
	return nil
}
