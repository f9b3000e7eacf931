package server

import "net/http"

// requestIDHeader carries the request id on every response; error bodies
// repeat it as "id".
const requestIDHeader = "X-Request-Id"

// setRequestID gives the response an X-Request-Id: the one the request came
// with (set by a proxy or the client) when it is a short printable token,
// else a new random one.
func setRequestID(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(requestIDHeader)
	if !validRequestID(id) {
		id = newID()
	}
	w.Header().Set(requestIDHeader, id)
}

// responseID is the response's request id, set by setRequestID; one is made
// (and set) when the response has none yet.
func responseID(w http.ResponseWriter) string {
	id := w.Header().Get(requestIDHeader)
	if id == "" {
		id = newID()
		w.Header().Set(requestIDHeader, id)
	}
	return id
}

// validRequestID accepts 1 to 128 characters of visible ASCII.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}
