package hub

import (
	"fmt"
	"regexp"
	"strings"

	"twostage/internal/stconfig"
	"twostage/modeldir"
)

// Known is a short name for a Hugging Face repository that twostage can pull.
type Known struct {
	// Name is the short name, such as "zerank-2".
	Name string
	// Repo is the repository id, such as "zeroentropy/zerank-2-reranker".
	Repo string
	// Family is the modeldir family the repository holds.
	Family string
}

var known = []Known{
	{"zerank-2", "zeroentropy/zerank-2-reranker", modeldir.FamilyZerank},
	{"zerank-1", "zeroentropy/zerank-1", modeldir.FamilyZerank},
	{"zerank-1-small", "zeroentropy/zerank-1-small", modeldir.FamilyZerank},
	{"qwen3-reranker-0.6b", "Qwen/Qwen3-Reranker-0.6B", modeldir.FamilyQwen3Reranker},
	{"qwen3-reranker-4b", "Qwen/Qwen3-Reranker-4B", modeldir.FamilyQwen3Reranker},
	{"qwen3-reranker-8b", "Qwen/Qwen3-Reranker-8B", modeldir.FamilyQwen3Reranker},
	{"ms-marco-MiniLM-L-6-v2", "cross-encoder/ms-marco-MiniLM-L-6-v2", modeldir.FamilyBertCrossEncoder},
	{"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", modeldir.FamilyBertEmbedding},
	{"bge-small-en-v1.5", "BAAI/bge-small-en-v1.5", modeldir.FamilyBertEmbedding},
}

// Names returns the known short names, in a fixed order.
func Names() []Known { return append([]Known(nil), known...) }

// Ref is a parsed model reference: a short name or a repository id, with an
// optional revision.
type Ref struct {
	// Name is the reference as given, without the revision: a short name or
	// a repository id.
	Name string
	// Repo is the repository id ("org/name").
	Repo string
	// Revision is a branch, tag or commit; "main" when none was given.
	Revision string
	// Family is the family the short name or repository id implies, or ""
	// when only config.json can tell.
	Family string
}

// String returns NAME or NAME@REVISION (the revision only when not main).
func (r Ref) String() string {
	if r.Revision == DefaultRevision {
		return r.Name
	}
	return r.Name + "@" + r.Revision
}

// DefaultRevision is the revision pulled when a reference names none.
const DefaultRevision = "main"

var repoIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)

// ParseRef parses "NAME[@REVISION]" or "ORG/NAME[@REVISION]". Short names
// match case-insensitively. Errors wrap ErrInvalidRef.
func ParseRef(s string) (Ref, error) {
	name, rev := s, DefaultRevision
	if i := strings.LastIndex(s, "@"); i >= 0 {
		name, rev = s[:i], s[i+1:]
		if rev == "" {
			return Ref{}, fmt.Errorf("hub: %q: empty revision after @: %w", s, ErrInvalidRef)
		}
		if strings.Contains(rev, "..") || strings.ContainsAny(rev, "\\ \t\n") {
			return Ref{}, fmt.Errorf("hub: %q: bad revision %q: %w", s, rev, ErrInvalidRef)
		}
	}
	for _, k := range known {
		if strings.EqualFold(name, k.Name) || strings.EqualFold(name, k.Repo) {
			return Ref{Name: name, Repo: k.Repo, Revision: rev, Family: k.Family}, nil
		}
	}
	if !repoIDRe.MatchString(name) || strings.Contains(name, "..") {
		return Ref{}, fmt.Errorf("hub: %q is neither a known model name (%s) nor a repository id ORG/NAME: %w", s, knownList(), ErrInvalidRef)
	}
	return Ref{Name: name, Repo: name, Revision: rev}, nil
}

// IsRef reports whether s reads as a model reference (a known short name, or
// ORG/NAME[@REVISION]) rather than a path: it is not absolute and does not
// start with "." or "~".
func IsRef(s string) bool {
	if s == "" || strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") {
		return false
	}
	_, err := ParseRef(s)
	return err == nil
}

func knownList() string {
	names := make([]string, len(known))
	for i, k := range known {
		names[i] = k.Name
	}
	return strings.Join(names, ", ")
}

// Files that a checkpoint carries; sentence-transformers bi-encoders add
// the module list and the maximum sequence length (stconfig.ModulesFile,
// stconfig.SBERTFile) and the pooling mode (poolingFile).
const (
	poolingFile  = stconfig.PoolingDir + "/config.json"
	configFile   = "config.json"
	indexFile    = "model.safetensors.index.json"
	tokenizerJS  = "tokenizer.json"
	safetensorsX = ".safetensors"
)

// Needed reports whether a repository file is one that the family's
// conversion reads: config.json, the top-level safetensors files and their
// index, the tokenizer and its configs, and for bert-embedding the
// sentence-transformers module, sequence-length and pooling configs. Other
// copies of the weights (.bin, .onnx, .gguf, .h5, .msgpack) never are.
func Needed(file, family string) bool {
	switch file {
	case configFile, tokenizerJS, "tokenizer_config.json", "special_tokens_map.json", indexFile:
		return true
	case stconfig.ModulesFile, stconfig.SBERTFile, poolingFile:
		return family == modeldir.FamilyBertEmbedding
	}
	return !strings.Contains(file, "/") && strings.HasSuffix(file, safetensorsX)
}
