package scenarios

import (
	"bytes"
	"os"
	"testing"
)

// TestReplayGolden replays a timeline recorded from a real run of
// master-crash (drlab scenario run master-crash --narrate --timeline …) and
// compares the output with the golden file. DRLB_UPDATE_GOLDEN=1 rewrites it.
func TestReplayGolden(t *testing.T) {
	f, err := os.Open("testdata/master-crash.timeline.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	events, err := ReadTimeline(f)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := Replay(events, &got, 0, nil); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/master-crash.replay.golden"
	if os.Getenv("DRLB_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("replay differs from %s (DRLB_UPDATE_GOLDEN=1 to accept):\n%s", golden, got.String())
	}
	for _, needle := range []string{"lb2 became MASTER", "Master_Down_Interval = 3 × 1 s + (256 − 100)/256 s = 3.61 s", "PASSED"} {
		if !bytes.Contains(want, []byte(needle)) {
			t.Errorf("golden replay lacks %q", needle)
		}
	}
}
