from reactor._http_response import REASONS as REASONS, HttpResponse as HttpResponse, validate_header as validate_header

__all__ = ["HttpResponse", "REASONS", "validate_header"]
