package core

// HasLabels reports whether n's labels include every key=value of sel;
// an empty sel matches every node.
func (n NodeInfo) HasLabels(sel map[string]string) bool {
	for k, v := range sel {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
