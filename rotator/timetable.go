package rotator

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
)

// timetable runs jobs at the times their schedules give, from one
// goroutine and one timer. Armed entries sit in a heap ordered by their
// next run, so a wake costs O(log n) per job due and nothing per job not
// due; robfig/cron's own loop sorts every entry at every wake, which at
// 10,000 slots (20,002 entries) was most of what an idle daemon did.
// Only the schedule parsing and the job wrappers of robfig/cron are used.
//
// An entry can be disarmed (taken out of the heap) and armed again: a
// slot with no retired pair has no retired-probe entry to wake for, and
// the rotation pass is armed only while a rotation is in flight.
type timetable struct {
	now func() time.Time

	mu    sync.Mutex
	armed entryHeap
	// poke tells the loop that an entry armed at the head of the heap
	// may be due before its timer.
	poke chan struct{}

	// ping carries liveness questions to the loop; it closes the reply.
	ping chan chan struct{}
	// beat is the unix-nano time the loop last answered or woke.
	beat atomic.Int64
	// stuck, when it reports true, freezes the loop: it neither
	// dispatches nor answers pings (a test build's frozen scheduler).
	stuck func() bool

	jobs sync.WaitGroup
}

// entry is one job of the timetable.
type entry struct {
	sched cron.Schedule
	job   cron.Job
	next  time.Time // zero while disarmed
	index int       // in the heap; -1 while disarmed
}

func newTimetable(now func() time.Time, stuck func() bool) *timetable {
	t := &timetable{now: now, stuck: stuck, poke: make(chan struct{}, 1), ping: make(chan chan struct{})}
	t.beat.Store(now().UnixNano())
	return t
}

// add makes an entry for job on sched, armed or not.
func (t *timetable) add(sched cron.Schedule, job cron.Job, armed bool) *entry {
	e := &entry{sched: sched, job: job, index: -1}
	if armed {
		t.arm(e)
	}
	return e
}

// arm puts e in the heap at its schedule's next time after now, unless it
// is armed already (its next run stays where it is).
func (t *timetable) arm(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.index >= 0 {
		return
	}
	next := e.sched.Next(t.now())
	if next.IsZero() {
		return // a schedule that never fires again
	}
	e.next = next
	heap.Push(&t.armed, e)
	if e.index == 0 {
		t.wake()
	}
}

// disarm takes e out of the heap. A loop timer set for it fires to
// nothing; that is cheaper than resetting it from here.
func (t *timetable) disarm(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.index < 0 {
		return
	}
	heap.Remove(&t.armed, e.index)
	e.next = time.Time{}
}

// nextOf is e's next run; zero while disarmed.
func (t *timetable) nextOf(e *entry) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return e.next
}

// rearm recomputes every armed entry's next run from now (Start: the
// schedules were built a while before).
func (t *timetable) rearm() {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.armed[:0]
	for _, e := range t.armed {
		if e.next = e.sched.Next(t.now()); e.next.IsZero() {
			e.index = -1
			continue
		}
		live = append(live, e)
	}
	for i, e := range live {
		e.index = i
	}
	t.armed = live
	heap.Init(&t.armed)
	t.wake()
}

func (t *timetable) wake() {
	select {
	case t.poke <- struct{}{}:
	default:
	}
}

// peek is when the next armed entry is due; zero if none is armed.
func (t *timetable) peek() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.armed) == 0 {
		return time.Time{}
	}
	return t.armed[0].next
}

// due takes the entries due at now off the heap, puts each back at its
// next run after now, and returns their jobs and when the next one is
// due (zero: nothing armed). It is the whole of a wake's work.
func (t *timetable) due(now time.Time) (jobs []cron.Job, next time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.armed) > 0 && !t.armed[0].next.After(now) {
		e := t.armed[0]
		jobs = append(jobs, e.job)
		if e.next = e.sched.Next(now); e.next.IsZero() {
			heap.Pop(&t.armed)
			continue
		}
		heap.Fix(&t.armed, 0)
	}
	if len(t.armed) > 0 {
		next = t.armed[0].next
	}
	return jobs, next
}

// run dispatches due jobs, each in its own goroutine, until ctx ends.
// Between them it sleeps until the earliest armed entry, or indefinitely
// when nothing is armed, waking otherwise only for a ping or a poke.
func (t *timetable) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if t.stuck != nil && t.stuck() {
			// A test build's frozen scheduler: nothing is dispatched
			// and nothing answers, so readiness and the watchdog see
			// the beat go stale, as with a loop that hangs for real.
			<-ctx.Done()
			return
		}
		now := t.now()
		jobs, next := t.due(now)
		if len(jobs) > 0 {
			t.beat.Store(now.UnixNano())
		}
		for _, j := range jobs {
			t.jobs.Go(j.Run)
		}
		var fire <-chan time.Time
		if !next.IsZero() {
			// A Reset timer never delivers a stale expiry (Go 1.23+).
			timer.Reset(max(next.Sub(t.now()), 0))
			fire = timer.C
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.poke:
		case reply := <-t.ping:
			if t.stuck != nil && t.stuck() {
				continue // a frozen loop: the question goes unanswered
			}
			t.beat.Store(t.now().UnixNano())
			close(reply)
		case <-fire:
		}
	}
}

// alive asks the loop to answer within wait.
func (t *timetable) alive(wait time.Duration) bool {
	reply := make(chan struct{})
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case t.ping <- reply:
	case <-timer.C:
		return false
	}
	select {
	case <-reply:
		return true
	case <-timer.C:
		return false
	}
}

// lastBeat is when the loop last answered or woke.
func (t *timetable) lastBeat() time.Time { return time.Unix(0, t.beat.Load()) }

// entryHeap orders armed entries by next run.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
