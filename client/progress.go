package client

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress is told how a fetch goes: its size and what is done, what it is doing, and
// notes for the user (fallbacks, discarded state, bad relays).
type Progress interface {
	// Start begins the display of the artifact id, total bytes of which done are here.
	Start(id string, total, done int64)
	// Set records the bytes done (unless negative) and, unless empty, what is happening.
	Set(done int64, desc string)
	// Add adds n bytes done.
	Add(n int64)
	// Note tells the user something worth a line of its own.
	Note(format string, args ...any)
	// Stop ends the display; it may be called more than once.
	Stop()
}

// Reporter shows a fetch's progress to a person: a bar on a terminal, a line every few
// seconds otherwise (a log), nothing without a writer. Notes go the same way.
type Reporter struct {
	w   io.Writer // nil: quiet
	tty bool

	mu    sync.Mutex
	id    string
	total int64
	done  int64
	desc  string
	bar   *progressbar.ProgressBar
	quit  chan struct{}
	wg    sync.WaitGroup
}

// plainEvery is how often progress lines are printed when stderr is not a terminal: often
// enough to show life in CI logs, rarely enough not to flood them.
const plainEvery = 5 * time.Second

var _ Progress = (*Reporter)(nil)

// NewReporter returns a Reporter writing to w (usually stderr); nil w shows nothing.
func NewReporter(w io.Writer) *Reporter {
	if w == nil {
		return &Reporter{}
	}
	f, ok := w.(*os.File)
	return &Reporter{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (r *Reporter) Start(id string, total, done int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.id, r.total, r.done = id, total, done
	if r.w == nil || total == 0 {
		return
	}
	every := plainEvery
	if r.tty {
		every = 200 * time.Millisecond
		r.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetDescription(id),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		r.bar.Set64(done)
	}
	r.quit = make(chan struct{})
	r.wg.Add(1)
	go r.loop(every, r.quit)
}

func (r *Reporter) loop(every time.Duration, quit <-chan struct{}) {
	defer r.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	r.mu.Lock()
	lastDone, lastAt := r.done, time.Now()
	r.mu.Unlock()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		r.mu.Lock()
		if r.bar != nil {
			r.bar.Describe(r.id + " " + r.desc)
			r.bar.Set64(r.done)
		} else {
			rate := float64(r.done-lastDone) / time.Since(lastAt).Seconds()
			lastDone, lastAt = r.done, time.Now()
			eta := "?"
			if rate > 0 {
				eta = (time.Duration(float64(r.total-r.done)/rate) * time.Second).Round(time.Second).String()
			}
			fmt.Fprintf(r.w, "fetch %s: %d%% (%s of %s), %s/s, ETA %s; %s\n", r.id, r.done*100/r.total,
				bytesize.Size(r.done), bytesize.Size(r.total), bytesize.Size(int64(rate)), eta, r.desc)
		}
		r.mu.Unlock()
	}
}

func (r *Reporter) Set(done int64, desc string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if done >= 0 {
		r.done = done
	}
	if desc != "" {
		r.desc = desc
	}
}

func (r *Reporter) Add(n int64) {
	r.mu.Lock()
	r.done += n
	r.mu.Unlock()
}

func (r *Reporter) Note(format string, args ...any) {
	if r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		r.bar.Clear()
	}
	fmt.Fprintf(r.w, "odi: "+format+"\n", args...)
}

func (r *Reporter) Stop() {
	r.mu.Lock()
	quit := r.quit
	r.quit = nil
	r.mu.Unlock()
	if quit == nil {
		return
	}
	close(quit)
	r.wg.Wait()
	if r.bar != nil {
		r.bar.Finish()
	}
}

// plural is the "s" of a count's noun in a message.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
