"""mini-swe-agent (MIT, github.com/SWE-agent/mini-swe-agent) behind Clade's agent contract."""
