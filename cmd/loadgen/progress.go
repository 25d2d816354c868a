package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

var progressMu sync.Mutex

func progress(msg string) {
	progressMu.Lock()
	defer progressMu.Unlock()
	fmt.Fprintf(os.Stderr, "\n[%s] %s\n", time.Now().Format(time.TimeOnly), msg)
}

// bar draws a one-line progress bar on stderr: done of total, with a label.
func bar(label string, done, total int) {
	if total <= 0 {
		return
	}
	const width = 30
	n := min(done*width/total, width)
	progressMu.Lock()
	fmt.Fprintf(os.Stderr, "\r  %-28s [%s%s] %3d%% (%d/%d)", label, strings.Repeat("#", n), strings.Repeat(".", width-n), done*100/total, done, total)
	progressMu.Unlock()
}

// timeBar shows progress of a fixed-duration step until stop is closed.
func timeBar(label string, d time.Duration, stop <-chan struct{}) {
	start := time.Now()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			bar(label, 1, 1)
			return
		case <-t.C:
			bar(label, int(time.Since(start).Milliseconds()), int(d.Milliseconds()))
		}
	}
}
