"""The seed coding agent: the code Clade evolves. Standard library only.

Entry point: `python -m agent --problem FILE --repo DIR --out DIR [--self-improve]`.
Read loop.py first: it is the whole agent; llm.py talks to the model and
tools.py holds bash and the editor.
"""
