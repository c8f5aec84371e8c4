"""Reading a profile's findings in tests."""


def kinds(p, column=None):
    return [f.kind for f in p.findings if column is None or f.column == column]


def one(p, kind):
    found = [f for f in p.findings if f.kind == kind]
    assert len(found) == 1, p.findings
    return found[0]
