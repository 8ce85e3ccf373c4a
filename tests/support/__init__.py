"""Test doubles shared by the suites and by bench/: the scripted
OpenAI-compatible model server (`scripted_server`) and its scripts
(`script`). Not product code: no room may import `tests`."""
