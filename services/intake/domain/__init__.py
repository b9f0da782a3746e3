"""Intake's pure rules (no I/O): what a submission is and when two are the same (`submissions`), how the
downstream events it follows move a request's status (`status`), the public request form and the model's errors
told beside its fields (`request_form`), and an agency's requests in plain words with the rule for withdrawing
one (`agency_requests`)."""
