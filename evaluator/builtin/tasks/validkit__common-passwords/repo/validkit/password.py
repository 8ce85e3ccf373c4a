"""Password strength, with reasons."""

from dataclasses import dataclass, field



@dataclass
class Strength:
    score: int  # 0 (terrible) to 4 (strong)
    problems: list = field(default_factory=list)


def check_password(password):
    problems = []
    score = 0
    if len(password) >= 12:
        score += 2
    elif len(password) >= 8:
        score += 1
    else:
        problems.append("use at least 8 characters")
    kinds = sum([any(c.islower() for c in password), any(c.isupper() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() for c in password)])
    score += min(2, max(0, kinds - 1))
    if kinds < 2:
        problems.append("mix letters with digits, capitals or symbols")
    return Strength(min(score, 4), problems)
