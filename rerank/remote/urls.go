package remote

import "strings"

// joinPath appends the API path to base, leaving out the longest leading
// part of it (whole segments) that base's path already ends with: base
// https://api.cohere.com/v2 and path /v2/rerank give .../v2/rerank, base
// .../v1/models and /v1/models/rerank give .../v1/models/rerank. The host
// is never matched (http://v1 gets the whole path).
func joinPath(base, path string) string {
	host, prefix := base, ""
	if i := strings.Index(base, "://"); i >= 0 {
		if j := strings.Index(base[i+3:], "/"); j >= 0 {
			host, prefix = base[:i+3+j], base[i+3+j:]
		}
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for k := len(segs); k > 0; k-- {
		if lead := "/" + strings.Join(segs[:k], "/"); strings.HasSuffix(prefix, lead) {
			return host + prefix + path[len(lead):]
		}
	}
	return host + prefix + path
}
