package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/tasks"
)

// memResult is scenario 5 (the API half is measured during scenario 1).
type memResult struct {
	Tasks          int
	IdleWorkerKB   int // one worker, empty queues: the baseline
	LoadedWorkerKB int // peak RSS (VmHWM) with Tasks queued, while it works through them
	IdleAPIKB      int
}

func benchWorkerMemory(ctx context.Context, s settings, r *report) error {
	c, err := cluster(ctx, s, "memory", systest.Options{Workers: 1, MaxRPS: 200, Concurrency: 20, Schedule: "10m"})
	if err != nil {
		return err
	}
	defer c.Close()
	time.Sleep(3 * time.Second)
	r.mem.IdleWorkerKB = procKB(c.Workers[0].Pid(), "VmHWM")
	r.mem.IdleAPIKB = procKB(c.API.Pid(), "VmHWM")
	c.Workers[0].Kill()
	c.Workers = nil

	var users []string
	if err := c.DB.SelectContext(ctx, &users, `SELECT id FROM users`); err != nil {
		return err
	}
	progress(fmt.Sprintf("memory: %d IN_PROGRESS transactions and their queued checks", s.memTasks))
	if err := loadRows(ctx, c, s.memTasks, users, "M", "IN_PROGRESS"); err != nil {
		return err
	}
	var ids []string
	if err := c.DB.SelectContext(ctx, &ids, `SELECT id FROM transactions`); err != nil {
		return err
	}
	rdb := c.Redis.Client()
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()
	now := time.Now()
	for i, id := range ids {
		t, err := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: id}, tasks.QueueVerify, now)
		if err != nil {
			return err
		}
		if _, err := client.EnqueueContext(ctx, t); err != nil {
			return err
		}
		if i%5000 == 0 {
			bar("enqueue checks", i, len(ids))
		}
	}
	bar("enqueue checks", len(ids), len(ids))
	r.mem.Tasks = len(ids)
	if err := c.AddWorker(); err != nil {
		return err
	}
	pid := c.Workers[0].Pid()
	stop := make(chan struct{})
	d := 30 * time.Second
	if s.quick {
		d = 5 * time.Second
	}
	go timeBar("worker with a deep queue", d, stop)
	time.Sleep(d)
	close(stop)
	r.mem.LoadedWorkerKB = procKB(pid, "VmHWM")
	return nil
}
