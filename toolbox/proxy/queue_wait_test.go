package proxy

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestQueueWaitBuckets(t *testing.T) {
	for i := 1; i < WaitBucketCount; i++ {
		if WaitBucketBound(i) <= WaitBucketBound(i-1) {
			t.Fatalf("bound %d = %v not above bound %d = %v", i, WaitBucketBound(i), i-1, WaitBucketBound(i-1))
		}
	}
	for _, d := range []time.Duration{0, 999, time.Microsecond, 1500 * time.Nanosecond, time.Millisecond,
		7*time.Millisecond + 3, time.Second, time.Hour, math.MaxInt64} {
		i := waitBucket(d)
		if d >= WaitBucketBound(i) && i != WaitBucketCount-1 {
			t.Fatalf("%v in bucket %d whose bound is %v", d, i, WaitBucketBound(i))
		}
		if i > 0 && d < WaitBucketBound(i-1) {
			t.Fatalf("%v in bucket %d, below the bucket's floor %v", d, i, WaitBucketBound(i-1))
		}
	}
}

func TestQueueWaitQuantile(t *testing.T) {
	var rec waitRecorder
	var waits []time.Duration
	for i := range 1000 { // 1 ms .. 1 s, spread on a log scale
		d := time.Duration(float64(time.Millisecond) * math.Pow(1000, float64(i)/999))
		waits = append(waits, d)
		rec.st.Counts[waitBucket(d)]++
		rec.st.Dispatched++
		rec.st.WaitSum += d
	}
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 1} {
		exact := waits[int(math.Ceil(q*1000))-1]
		got := rec.st.Quantile(q)
		if ratio := float64(got) / float64(exact); ratio < 0.91 || ratio > 1.1 {
			t.Errorf("q%v: %v, exact %v (ratio %.3f), want within a bucket's width", q, got, exact, ratio)
		}
	}
	for _, d := range []time.Duration{500 * time.Microsecond, 3 * time.Millisecond, 50 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second} {
		exact := len(waits) - sort.Search(len(waits), func(i int) bool { return waits[i] > d })
		if got := rec.st.Over(d); math.Abs(got-float64(exact)) > 0.1*float64(len(waits))/30+1 {
			t.Errorf("over %v: %.1f, exact %d", d, got, exact)
		}
	}
	if got := (WaitStats{}).Quantile(0.99); got != 0 {
		t.Fatalf("quantile of nothing: %v", got)
	}
	prev := rec.st
	rec.st.Counts[waitBucket(5*time.Second)] += 10
	rec.st.Dispatched += 10
	d := rec.st.Since(prev)
	if d.Dispatched != 10 || d.Quantile(0.5) < 4*time.Second || d.Quantile(0.5) > 6*time.Second {
		t.Fatalf("since: %d dispatched, median %v; want 10 around 5 s", d.Dispatched, d.Quantile(0.5))
	}
}

// TestQueueWaitMeasuresPausedRequests holds requests in a paused queue
// and checks what WaitStats says about them while they wait and after.
func TestQueueWaitMeasuresPausedRequests(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		q := newQueue(t, tr)
		const n, hold, service = 6, 150 * time.Millisecond, 5 * time.Millisecond
		newWorker(t, q.BackendEndpoint(), HandlerFunc(func(ctx context.Context, body [][]byte) ([][]byte, error) {
			time.Sleep(service)
			return body, nil
		}))
		waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == 1 })
		q.Pause()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			c := newQueueClient(t, q.FrontendEndpoint())
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				if _, err := c.Request(ctx, []byte(fmt.Sprint(i))); err != nil {
					errs <- err
				}
			}()
		}
		waitUntil(t, wait, "requests queued", func() bool { return q.WaitStats().Queued == n })
		start := time.Now()
		waitUntil(t, wait, "oldest wait grows", func() bool { return q.WaitStats().OldestWait >= hold })
		st := q.WaitStats()
		if st.Arrived != n || st.Dispatched != 0 || st.Quantile(0.99) != 0 {
			t.Fatalf("while paused: %+v", st)
		}
		for time.Since(start) < hold {
			time.Sleep(10 * time.Millisecond) // every request has waited ≥ hold
		}
		q.Resume()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		waitUntil(t, wait, "replies counted", func() bool { return q.WaitStats().Replied == n })
		d := q.WaitStats().Since(st)
		if d.Arrived != 0 || d.Dispatched != n || d.Queued != 0 || d.OldestWait != 0 {
			t.Fatalf("after resume: %+v", d)
		}
		// One worker serves them in turn: the last waits ≥ hold + (n-1)×service.
		if p50, p99 := d.Quantile(0.5), d.Quantile(0.99); p50 < hold || p99 < hold+(n-1)*service {
			t.Fatalf("p50 %v p99 %v, want ≥ %v and ≥ %v", p50, p99, hold, hold+(n-1)*service)
		}
		if ms := d.MeanService(); ms < service {
			t.Fatalf("mean service %v, want ≥ %v", ms, service)
		}
		if d.MeanWait() < hold {
			t.Fatalf("mean wait %v", d.MeanWait())
		}
	})
}

// TestQueueWaitCountsRetries has a request's worker die: the request
// arrives once, waits twice and is answered by the second worker.
func TestQueueWaitCountsRetries(t *testing.T) {
	q := newQueue(t, transports[0])
	started := make(chan string, 1)
	w1 := newWorker(t, q.BackendEndpoint(), blocking(started, "w1"))
	waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == 1 })
	c := newQueueClient(t, q.FrontendEndpoint())
	done := make(chan string, 1)
	go func() { done <- doRequestErr(c, "x") }()
	<-started
	newWorker(t, q.BackendEndpoint(), echo("w2"))
	w1.Close()
	if got := <-done; got != "w2:x" {
		t.Fatalf("reply %q", got)
	}
	waitUntil(t, wait, "reply counted", func() bool { return q.WaitStats().Replied == 1 })
	if st := q.WaitStats(); st.Arrived != 1 || st.Dispatched != 2 || st.Queued != 0 {
		t.Fatalf("stats after a retry: arrived %d dispatched %d queued %d", st.Arrived, st.Dispatched, st.Queued)
	}
}

func doRequestErr(c *QueueClient, body string) string {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	reply, err := c.Request(ctx, []byte(body))
	if err != nil {
		return err.Error()
	}
	return string(reply[0])
}
