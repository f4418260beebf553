package client

import (
	"reflect"
	"testing"
)

func TestMissingRuns(t *testing.T) {
	for _, tt := range []struct {
		have []bool
		want [][2]int
	}{
		{nil, nil},
		{[]bool{true, true}, nil},
		{[]bool{false}, [][2]int{{0, 1}}},
		{[]bool{false, false, true, false}, [][2]int{{0, 2}, {3, 4}}},
		{[]bool{true, false, false, true}, [][2]int{{1, 3}}},
	} {
		if got := missingRuns(tt.have); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("missingRuns(%v) = %v, want %v", tt.have, got, tt.want)
		}
	}
}
