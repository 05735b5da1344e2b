package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

// Publishing waits, after the subscribers it waited for connected, for
// their subscriptions to arrive (core tells a publisher about
// connections, not subscriptions), and before closing, for its queues
// to be written (closing drops what is still queued).
const (
	subscribeSettle = 100 * time.Millisecond
	publishLinger   = 250 * time.Millisecond
)

func pubCommand() *cli.Command {
	return &cli.Command{
		Name:      "pub",
		Category:  "inspect and drive",
		Usage:     "publish a JSON message on a topic, once or at a rate",
		ArgsUsage: "TOPIC JSON",
		Description: "zmptool advertises TOPIC, waits until --wait-subscribers subscribers are connected\n" +
			"(at most --wait-timeout, then publishes anyway with a warning), publishes --count\n" +
			"messages at --rate per second (--count 0: until Ctrl-C) and reports how many were\n" +
			"delivered to subscriber queues and how many were dropped.",
		Flags: []cli.Flag{
			registryFlag(),
			&cli.IntFlag{Name: "count", Value: 1, Usage: "messages to publish (0: until Ctrl-C)", EnvVars: []string{"ZMP_COUNT"}},
			&cli.Float64Flag{Name: "rate", Value: 1, Usage: "messages per second", EnvVars: []string{"ZMP_RATE"}},
			&cli.IntFlag{Name: "wait-subscribers", Value: 1, Usage: "subscribers to wait for before the first message (0: none)", EnvVars: []string{"ZMP_WAIT_SUBSCRIBERS"}},
			&cli.DurationFlag{Name: "wait-timeout", Value: 5 * time.Second, Usage: "how long to wait for them", EnvVars: []string{"ZMP_WAIT_TIMEOUT"}},
			&cli.StringFlag{Name: "host", Value: "127.0.0.1", Usage: "address to bind the publishing socket to (subscribers on other hosts need a routable one)", EnvVars: []string{"ZMP_HOST"}},
			jsonFlag("print the summary as JSON (and no progress)"),
		},
		Action: pub,
	}
}

// pubSummary is what pub reports at the end.
type pubSummary struct {
	Topic       string `json:"topic"`
	Published   uint64 `json:"published"`
	Delivered   uint64 `json:"delivered"`
	Dropped     uint64 `json:"dropped"`
	Subscribers int    `json:"subscribers"`
}

func pub(c *cli.Context) error {
	args, err := argsOf(c, 2, 2)
	if err != nil {
		return err
	}
	topic, body := args[0], []byte(args[1])
	if !json.Valid(body) {
		return usageError{fmt.Errorf("pub: the message is not valid JSON: %s", args[1])}
	}
	count, rate, waitN := c.Int("count"), c.Float64("rate"), c.Int("wait-subscribers")
	if count < 0 || rate <= 0 || waitN < 0 {
		return usageError{fmt.Errorf("pub: --count and --wait-subscribers must not be negative, --rate must be positive")}
	}
	s, err := openSession(c, true, core.WithHost(c.String("host")))
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.peer.Advertise(topic); err != nil {
		return err
	}
	progress := progressWriter(c)
	if !waitSubscribers(c.Context, s.peer, topic, waitN, c.Duration("wait-timeout"), progress, c.App.ErrWriter) {
		return nil // interrupted
	}
	publishLoop(c.Context, s.peer, topic, body, count, rate, progress)
	sum := summarize(s.peer, topic)
	sleepCtx(context.Background(), publishLinger)
	if c.Bool("json") {
		return printJSON(c.App.Writer, sum)
	}
	fmt.Fprintf(c.App.Writer, "published %d messages on %s: %d delivered, %d dropped (%d subscribers)\n",
		sum.Published, topic, sum.Delivered, sum.Dropped, sum.Subscribers)
	return nil
}

func progressWriter(c *cli.Context) io.Writer {
	if c.Bool("json") {
		return io.Discard
	}
	return c.App.ErrWriter
}

// waitSubscribers waits for n subscriber connections, at most timeout;
// it returns false if ctx ended.
func waitSubscribers(ctx context.Context, p *core.Peer, topic string, n int, timeout time.Duration, progress, warn io.Writer) bool {
	if n == 0 {
		return ctx.Err() == nil
	}
	fmt.Fprintf(progress, "waiting for %d subscriber(s) of %s (at most %v)\n", n, topic, timeout)
	deadline := time.Now().Add(timeout)
	for p.Stats().Server.Subscribers < n {
		if time.Now().After(deadline) {
			fmt.Fprintf(warn, "zmptool: warning: %d of %d subscribers after %v; publishing anyway\n", p.Stats().Server.Subscribers, n, timeout)
			return ctx.Err() == nil
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return false
		}
	}
	fmt.Fprintf(progress, "%d subscriber(s) connected\n", p.Stats().Server.Subscribers)
	return sleepCtx(ctx, subscribeSettle)
}

// publishLoop publishes count messages (0: until ctx ends) at rate per
// second, reporting progress every second.
func publishLoop(ctx context.Context, p *core.Peer, topic string, body []byte, count int, rate float64, progress io.Writer) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			if !waitTick(ctx, tick.C, report.C, func() {
				s := summarize(p, topic)
				fmt.Fprintf(progress, "published %d, delivered %d, dropped %d, %d subscribers\n", s.Published, s.Delivered, s.Dropped, s.Subscribers)
			}) {
				return
			}
		}
		if err := p.Publish(topic, body); err != nil {
			fmt.Fprintf(progress, "publishing: %v\n", err)
			return
		}
	}
}

// waitTick waits for the next tick, calling onReport on report ticks;
// false if ctx ended.
func waitTick(ctx context.Context, tick, report <-chan time.Time, onReport func()) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
			return true
		case <-report:
			onReport()
		}
	}
}

func summarize(p *core.Peer, topic string) pubSummary {
	st := p.Stats()
	ts := st.Topics[topic]
	return pubSummary{Topic: topic, Published: ts.Published, Delivered: ts.Delivered, Dropped: ts.Dropped, Subscribers: st.Server.Subscribers}
}

// sleepCtx sleeps for d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func echoCommand() *cli.Command {
	return &cli.Command{
		Name:      "echo",
		Category:  "inspect and drive",
		Usage:     "print the messages published on a topic (or under a prefix)",
		ArgsUsage: "TOPIC",
		Description: "Each message is printed as TOPIC [PUBLISHER #SEQ] DATA, or with --json as one JSON\n" +
			`object per line: {"topic","publisher","seq","time","size","data"} (binary bodies as "raw", base64).` + "\n" +
			"Runs until --count messages, --duration or Ctrl-C; then prints what was received,\n" +
			"dropped (queue full) and missed (publisher-side gaps) on stderr.",
		Flags: []cli.Flag{
			registryFlag(), prefixFlag(),
			&cli.IntFlag{Name: "count", Usage: "stop after this many messages (0: no limit)", EnvVars: []string{"ZMP_COUNT"}},
			durationFlag(),
			jsonFlag("print each message as a line of JSON (and no progress)"),
		},
		Action: echo,
	}
}

// echoLine is one message of echo --json.
type echoLine struct {
	Topic     string    `json:"topic"`
	Publisher string    `json:"publisher"`
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Size      int       `json:"size"`
	jsonData
}

func echo(c *cli.Context) error {
	if c.Int("count") < 0 {
		return usageError{fmt.Errorf("echo: --count must not be negative")}
	}
	return streamTopic(c, stream{count: c.Int("count"), onMessage: func(m core.Message, at time.Time) error {
		if c.Bool("json") {
			return printJSONLine(c.App.Writer, echoLine{Topic: m.Topic, Publisher: m.Publisher, Seq: m.Seq, Time: at, Size: len(m.Data), jsonData: newJSONData(m.Data)})
		}
		_, err := fmt.Fprintf(c.App.Writer, "%s [%s #%d] %s\n", m.Topic, m.Publisher, m.Seq, dataText(m.Data, false))
		return err
	}})
}

// stream is what a streaming command does with a subscription.
type stream struct {
	count     int                                       // stop after this many messages (0: no limit)
	onMessage func(core.Message, time.Time) error       // each message, with its arrival time
	onTick    func(time.Time, *core.Subscription) error // if set, every --interval
}

// streamTopic subscribes to the topic argument of c and runs st until
// st.count messages, --duration or ctx's end. It reports publishers
// connecting on the progress writer, and the subscription's counters
// at the end.
func streamTopic(c *cli.Context, st stream) error {
	args, err := argsOf(c, 1, 1)
	if err != nil {
		return err
	}
	var opts []core.SubscribeOption
	if c.Bool("prefix") {
		opts = append(opts, core.AsPrefix())
	}
	s, err := openSession(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	sub, err := s.peer.Subscribe(args[0], opts...)
	if err != nil {
		return err
	}
	defer sub.Close()
	progress := progressWriter(c)
	fmt.Fprintf(progress, "subscribed to %s; waiting for publishers (Ctrl-C to stop)\n", describeSub(args[0], c.Bool("prefix")))
	err = receiveLoop(c, sub, st, progress)
	counts := sub.Stats()
	fmt.Fprintf(progress, "received %d messages, %d dropped, %d missed\n", counts.Received, counts.Dropped, counts.Missed)
	return err
}

func describeSub(topic string, prefix bool) string {
	if prefix {
		return "every topic under " + topic
	}
	return topic
}

// publisherPoll is how often a stream checks for publishers coming and going.
const publisherPoll = 200 * time.Millisecond

func receiveLoop(c *cli.Context, sub *core.Subscription, st stream, progress io.Writer) error {
	ctx := c.Context
	if d := c.Duration("duration"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var ticks <-chan time.Time
	if st.onTick != nil {
		t := time.NewTicker(c.Duration("interval"))
		defer t.Stop()
		ticks = t.C
	}
	poll := time.NewTicker(publisherPoll)
	defer poll.Stop()
	publishers, got := 0, 0
	checkPublishers := func() {
		if n := sub.Stats().Publishers; n != publishers {
			publishers = n
			fmt.Fprintf(progress, "%d publisher(s) connected\n", n)
		}
	}
	for st.count == 0 || got < st.count {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-sub.C():
			if !ok {
				return core.ErrClosed
			}
			if publishers == 0 { // the first message may beat the poll
				checkPublishers()
			}
			got++
			if err := st.onMessage(m, time.Now()); err != nil {
				return err
			}
		case <-poll.C:
			checkPublishers()
		case now := <-ticks:
			if err := st.onTick(now, sub); err != nil {
				return err
			}
		}
	}
	return nil
}
