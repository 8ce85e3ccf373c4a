"""Tokens -> tree, by recursive descent.

Grammar (lowest precedence first)::

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/" | "//" | "%") unary)*
    unary := "-" unary | power
    power := atom ("**" unary)?
    atom  := NUM | NAME | NAME "(" [expr ("," expr)*] ")" | "(" expr ")"

Trees are tuples: ("num", value), ("var", name), ("neg", operand),
("binop", op, left, right), ("call", name, [args]).
"""


class ParseError(ValueError):
    """The tokens do not form an expression."""


class Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        token = self.peek()
        self.pos += 1
        return token

    def at_op(self, *ops):
        token = self.peek()
        return token is not None and token.kind == "op" and token.value in ops

    def expect(self, kind):
        token = self.take()
        if token is None:
            raise ParseError(f"expected {kind}, got the end of the expression")
        if token.kind != kind:
            raise ParseError(f"expected {kind}, got {token.value!r} at position {token.pos}")
        return token

    def parse(self):
        tree = self.expr()
        token = self.peek()
        if token is not None:
            raise ParseError(f"unexpected {token.value!r} at position {token.pos}")
        return tree

    def expr(self):
        tree = self.term()
        while self.at_op("+", "-"):
            op = self.take().value
            tree = ("binop", op, tree, self.term())
        return tree

    def term(self):
        tree = self.unary()
        while self.at_op("*", "/", "//", "%"):
            op = self.take().value
            tree = ("binop", op, tree, self.unary())
        return tree

    def unary(self):
        if self.at_op("-"):
            self.take()
            return ("neg", self.unary())
        return self.power()

    def power(self):
        tree = self.atom()
        if self.at_op("**"):
            self.take()
            return ("binop", "**", tree, self.unary())
        return tree

    def atom(self):
        token = self.take()
        if token is None:
            raise ParseError("unexpected end of the expression")
        if token.kind == "num":
            return ("num", float(token.value))
        if token.kind == "name":
            following = self.peek()
            if following is not None and following.kind == "lparen":
                self.take()
                args = []
                if self.peek() is not None and self.peek().kind != "rparen":
                    args.append(self.expr())
                    while self.peek() is not None and self.peek().kind == "comma":
                        self.take()
                        args.append(self.expr())
                self.expect("rparen")
                return ("call", token.value, args)
            return ("var", token.value)
        if token.kind == "lparen":
            tree = self.expr()
            self.expect("rparen")
            return tree
        raise ParseError(f"unexpected {token.value!r} at position {token.pos}")


def parse(tokens):
    return Parser(tokens).parse()
