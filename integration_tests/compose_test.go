package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"twostage/internal/testassets"
	"twostage/server"
)

// Docker cannot run on the build machines; these tests check that
// docker-compose.yml parses, pins its images, wires the services as the
// README says, and that its inline twostage configs load.

type composeFile struct {
	Name     string `yaml:"name"`
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Restart     string            `yaml:"restart"`
		Volumes     []string          `yaml:"volumes"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Ports       []string          `yaml:"ports"`
		Networks    []string          `yaml:"networks"`
		Environment map[string]string `yaml:"environment"`
		Profiles    []string          `yaml:"profiles"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Configs []struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		} `yaml:"configs"`
		Deploy struct {
			Resources struct {
				Reservations struct {
					Devices []struct {
						Driver       string   `yaml:"driver"`
						Count        any      `yaml:"count"`
						Capabilities []string `yaml:"capabilities"`
					} `yaml:"devices"`
				} `yaml:"reservations"`
			} `yaml:"resources"`
		} `yaml:"deploy"`
		Healthcheck struct {
			Test     []string `yaml:"test"`
			Interval string   `yaml:"interval"`
			Timeout  string   `yaml:"timeout"`
			Retries  int      `yaml:"retries"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Configs map[string]struct {
		Content string `yaml:"content"`
	} `yaml:"configs"`
	Volumes  map[string]any `yaml:"volumes"`
	Networks map[string]struct {
		Internal bool `yaml:"internal"`
	} `yaml:"networks"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testassets.Root(), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func TestComposeFile(t *testing.T) {
	c := loadCompose(t)
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:v?\d+\.\d+\.\d+$`)
	for _, tc := range []struct{ service, image string }{
		{"qdrant", "qdrant/qdrant:v1.16.2"},
		{"weaviate", "semitechnologies/weaviate:1.35.2"},
		{"twostage", "twostage:dev"},
		{"twostage-gpu", "twostage:dev"},
	} {
		s, ok := c.Services[tc.service]
		if !ok {
			t.Errorf("service %q missing", tc.service)
			continue
		}
		if s.Image != tc.image {
			t.Errorf("service %q image %q, want %q", tc.service, s.Image, tc.image)
		}
		if s.Build == nil && !pinned.MatchString(s.Image) {
			t.Errorf("service %q image %q is not pinned to a version", tc.service, s.Image)
		}
	}
	wv := c.Services["weaviate"]
	for k, v := range map[string]string{
		"AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true", "DEFAULT_VECTORIZER_MODULE": "none",
		"CLUSTER_HOSTNAME": "node1", "RAFT_BOOTSTRAP_EXPECT": "1", "DISABLE_TELEMETRY": "true",
		"PERSISTENCE_DATA_PATH": "/var/lib/weaviate", "GRPC_PORT": "50051",
	} {
		if wv.Environment[k] != v {
			t.Errorf("weaviate %s=%q, want %q", k, wv.Environment[k], v)
		}
	}
	if !slices.Contains(wv.Healthcheck.Test, "http://127.0.0.1:8080/v1/.well-known/ready") {
		t.Errorf("weaviate healthcheck %v does not probe /v1/.well-known/ready", wv.Healthcheck.Test)
	}
	// Issue 23: only twostage is published, on loopback by default; the
	// databases (anonymous access) stay on an internal network.
	if !c.Networks["backend"].Internal {
		t.Errorf("network backend is not internal: %+v", c.Networks)
	}
	for _, db := range []string{"qdrant", "weaviate"} {
		if s := c.Services[db]; len(s.Ports) != 0 || !slices.Equal(s.Networks, []string{"backend"}) {
			t.Errorf("%s publishes %v on networks %v; want no ports, only the internal network", db, s.Ports, s.Networks)
		}
	}
	composeDefault := regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)
	for _, name := range []string{"twostage", "twostage-gpu"} {
		s := c.Services[name]
		if !slices.Equal(s.Command, []string{"serve", "--config", "/etc/twostage/config.yaml"}) {
			t.Errorf("%s command %v", name, s.Command)
		}
		if s.DependsOn["weaviate"].Condition != "service_healthy" {
			t.Errorf("%s does not wait for a healthy weaviate", name)
		}
		if len(s.Configs) != 1 || s.Configs[0].Target != "/etc/twostage/config.yaml" {
			t.Errorf("%s configs %+v", name, s.Configs)
			continue
		}
		for _, p := range s.Ports {
			if bound := composeDefault.ReplaceAllString(p, "$1"); !strings.HasPrefix(bound, "127.0.0.1:") {
				t.Errorf("%s publishes %q (%q by default), want 127.0.0.1 by default", name, p, bound)
			}
		}
		if !slices.Contains(s.Networks, "backend") {
			t.Errorf("%s is not on the backend network: %v", name, s.Networks)
		}
		if tok := s.Environment["TWOSTAGE_AUTH_TOKENS"]; !strings.Contains(tok, ":?") {
			t.Errorf("%s TWOSTAGE_AUTH_TOKENS=%q: want ${TWOSTAGE_AUTH_TOKENS:?...} so compose refuses to start without one", name, tok)
		}
		content := c.Configs[s.Configs[0].Source].Content
		if _, err := server.ParseConfig([]byte(content), func(string) string { return "" }); err == nil {
			t.Errorf("%s config loads without a token; want auth.required", name)
		}
		cfg, err := server.ParseConfig([]byte(content), func(k string) string {
			if k == "TWOSTAGE_AUTH_TOKENS" {
				return "tok"
			}
			return ""
		})
		if err != nil {
			t.Errorf("%s config %q does not load: %v", name, s.Configs[0].Source, err)
			continue
		}
		for coll, want := range map[string]string{"docs": "weaviate://weaviate:8080/Docs", "qdocs": "qdrant://qdrant:6334/docs"} {
			if got := cfg.Collections[coll].Store; got != want {
				t.Errorf("%s collection %s store %q, want %q", name, coll, got, want)
			}
		}
	}
	gpu := c.Services["twostage-gpu"]
	if !slices.Equal(gpu.Profiles, []string{"gpu"}) {
		t.Errorf("twostage-gpu profiles %v, want [gpu]", gpu.Profiles)
	}
	devs := gpu.Deploy.Resources.Reservations.Devices
	if len(devs) != 1 || devs[0].Driver != "nvidia" || !slices.Contains(devs[0].Capabilities, "gpu") {
		t.Errorf("twostage-gpu device reservation %+v, want one nvidia gpu", devs)
	}
	if len(c.Services["twostage"].Profiles) != 0 {
		t.Error("the CPU twostage service should run without a profile")
	}
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testassets.Root(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{
		"FROM golang:1.26-bookworm AS build", "go build -tags faiss", "./cmd/twostage",
		"ENV ONNXRUNTIME_LIB=", `ENTRYPOINT ["twostage"]`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	from := regexp.MustCompile(`(?m)^FROM (\S+)`)
	for _, m := range from.FindAllStringSubmatch(s, -1) {
		if !strings.Contains(m[1], ":") || strings.HasSuffix(m[1], ":latest") {
			t.Errorf("base image %q is not pinned", m[1])
		}
	}
}
