package verify_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

// TestWaitingChecksAreScheduledInAsynqmon: with a bank that only ever says "not
// found yet", an operator reading Asynqmon (through the API, as an admin) sees
// every waiting check in the Scheduled list of the verify queue, with its due
// time and why it waits, and an empty Retry list: Retry and the failure
// counters are for real errors only.
func TestWaitingChecksAreScheduledInAsynqmon(t *testing.T) {
	t.Parallel()
	b := setup(t, options{withAPI: true, schedule: []time.Duration{300 * time.Millisecond, time.Hour}, deadline: 24 * time.Hour})
	var views []transaction.View
	for range 3 {
		views = append(views, b.postTx(t, transaction.BankMobileTransfer))
	}
	// Two checks each (the first task handed over at least twice: after the
	// first check, maybe for the per-reference limit, after the second).
	eventually(t, 20*time.Second, func() (bool, string) {
		for _, v := range views {
			if got := b.get(t, v.ID); got.Attempts < 2 || got.TaskSeq < 2 {
				return false, fmt.Sprintf("%s: %d checks, task_seq %d", v.ID, got.Attempts, got.TaskSeq)
			}
			if info := b.taskOf(t, v.ID); info == nil || info.State != asynq.TaskStateScheduled {
				return false, fmt.Sprintf("%s: task %v", v.ID, info)
			}
		}
		return true, ""
	})

	type listed struct {
		Tasks []struct {
			ID            string    `json:"id"`
			Payload       string    `json:"payload"`
			Retried       int       `json:"retried"`
			ErrorMessage  string    `json:"error_message"`
			NextProcessAt time.Time `json:"next_process_at"`
		} `json:"tasks"`
		Stats struct {
			Scheduled int `json:"scheduled"`
			Retry     int `json:"retry"`
			Failed    int `json:"failed"`
		} `json:"stats"`
	}
	get := func(path string) listed {
		t.Helper()
		r := b.do(t, http.MethodGet, path, b.adminToken, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var l listed
		r.decode(t, &l)
		return l
	}

	sched := get("/monitoring/api/queues/verify/scheduled_tasks?size=100")
	byID := map[string]int{}
	for i, task := range sched.Tasks {
		byID[task.ID] = i
	}
	for _, v := range views {
		want := tasks.VerifyTaskID(v.ID, b.get(t, v.ID).TaskSeq) // the one Postgres names
		i, ok := byID[want]
		if !ok {
			t.Errorf("Asynqmon's Scheduled list of verify lacks %s (has %v)", want, keys(byID))
			continue
		}
		task := sched.Tasks[i]
		if d := time.Until(task.NextProcessAt); d < 50*time.Minute || d > 61*time.Minute {
			t.Errorf("%s due in %s, want about an hour (VERIFY_SCHEDULE)", want, d)
		}
		if task.Retried != 0 || task.ErrorMessage != "" {
			t.Errorf("%s: retried %d, error %q: a wait is not a failure", want, task.Retried, task.ErrorMessage)
		}
		var p tasks.VerifyPayload
		if err := json.Unmarshal([]byte(task.Payload), &p); err != nil || p.TransactionID != v.ID || p.After != "not found at the bank yet after 2 check(s)" {
			t.Errorf("%s payload %s (%v): want the id and why it waits", want, task.Payload, err)
		}
	}
	if n := len(sched.Tasks); n != len(views) {
		t.Errorf("%d scheduled checks, want %d (one live task per transaction)", n, len(views))
	}
	retry := get("/monitoring/api/queues/verify/retry_tasks")
	if len(retry.Tasks) != 0 || retry.Stats.Retry != 0 || retry.Stats.Failed != 0 {
		t.Errorf("Retry list of verify: %d tasks, retry %d, failed today %d: want none", len(retry.Tasks), retry.Stats.Retry, retry.Stats.Failed)
	}

	// The same through the asynq inspector (what `asynq task ls` reads).
	info, err := b.inspector.GetQueueInfo(tasks.QueueVerify)
	if err != nil {
		t.Fatal(err)
	}
	if info.Scheduled != len(views) || info.Retry != 0 || info.FailedTotal != 0 {
		t.Errorf("queue verify: scheduled %d, retry %d, failed %d; want %d, 0, 0", info.Scheduled, info.Retry, info.FailedTotal, len(views))
	}
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
