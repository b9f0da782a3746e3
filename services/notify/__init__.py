"""Notify: tells agencies, providers and program staff what happened to a request, by email and webhook."""
