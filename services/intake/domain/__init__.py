"""Intake's pure rules (no I/O): what a submission is and when two are the same (`submissions`), and how the
downstream events it follows move a request's status (`status`)."""
