package banksandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The /sandbox/* routes let a demo or an out-of-process test drive the sandbox over HTTP the
// way in-process tests drive it through the Server's methods. They need no authentication:
// the sandbox holds no real data.

// maxAdminBody bounds admin request bodies; a payment list for a load test fits easily.
const maxAdminBody = 8 << 20

// adminError is the body of a refused admin request.
type adminError struct {
	Error string `json:"error"`
}

// readAdminBody reads a bounded admin request body.
func readAdminBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// handleAddPayments serves POST /sandbox/payments: one payment or an array of them.
func (s *Server) handleAddPayments(w http.ResponseWriter, r *http.Request) {
	body, err := readAdminBody(w, r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	var ps []Payment
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &ps)
	} else {
		var p Payment
		err = json.Unmarshal(trimmed, &p)
		ps = []Payment{p}
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{"decode payments: " + err.Error()})
		return
	}
	if err := s.addPayments(ps); err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int{"added": len(ps)})
}

// scriptJSON is the body of POST /sandbox/scripts.
type scriptJSON struct {
	ReferenceTail string `json:"reference_tail"`
	Replies       []struct {
		HTTPStatus        int    `json:"http_status"`
		StatusCode        string `json:"status_code"`
		StatusDesc        string `json:"status_desc"`
		RetryAfterSeconds int    `json:"retry_after_seconds"`
	} `json:"replies"`
}

// handleScript serves POST /sandbox/scripts.
func (s *Server) handleScript(w http.ResponseWriter, r *http.Request) {
	body, err := readAdminBody(w, r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	var sj scriptJSON
	if err := json.Unmarshal(body, &sj); err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{"decode script: " + err.Error()})
		return
	}
	if sj.ReferenceTail == "" || len(sj.Replies) == 0 {
		writeJSON(w, http.StatusBadRequest, adminError{"reference_tail and replies are required"})
		return
	}
	replies := make([]Reply, len(sj.Replies))
	for i, rj := range sj.Replies {
		if rj.HTTPStatus != 0 && (rj.HTTPStatus < 200 || rj.HTTPStatus > 599) {
			writeJSON(w, http.StatusBadRequest, adminError{fmt.Sprintf("reply %d: http_status %d", i, rj.HTTPStatus)})
			return
		}
		replies[i] = Reply{
			HTTPStatus: rj.HTTPStatus, StatusCode: rj.StatusCode, StatusDesc: rj.StatusDesc,
			RetryAfter: time.Duration(rj.RetryAfterSeconds) * time.Second,
		}
	}
	s.Script(sj.ReferenceTail, replies...)
	writeJSON(w, http.StatusCreated, map[string]int{"queued": len(replies)})
}

// handleSetFaults serves PUT /sandbox/faults.
func (s *Server) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	body, err := readAdminBody(w, r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	var f Faults
	if err := json.Unmarshal(body, &f); err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{"decode faults: " + err.Error()})
		return
	}
	if err := f.validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{err.Error()})
		return
	}
	s.SetFaults(f)
	writeJSON(w, http.StatusOK, f)
}

// handleGetFaults serves GET /sandbox/faults, to see what a demo is currently running with.
func (s *Server) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, f)
}

// handleExpireTokens serves POST /sandbox/expire-tokens.
func (s *Server) handleExpireTokens(w http.ResponseWriter, _ *http.Request) {
	s.ExpireTokens()
	w.WriteHeader(http.StatusNoContent)
}

// handleReset serves POST /sandbox/reset.
func (s *Server) handleReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}
