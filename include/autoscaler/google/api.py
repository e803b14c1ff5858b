"""The Google Ads API version and limits the client and the sandbox share (one place).

Pinned, not the library's default: a library upgrade that adds a version must not change what
the autoscaler sends until the code has been checked against it.
"""

from __future__ import annotations

API_VERSION = "v26"
# Google Ads API "Limits and quotas": a mutate request carries at most 10,000 operations
# (TOO_MANY_MUTATE_OPERATIONS); Search pages hold 10,000 rows; SearchStream has no pages.
MAX_MUTATE_OPERATIONS = 10_000
SEARCH_PAGE_SIZE = 10_000
MICROS = 1_000_000  # amount_micros: one currency unit is 1,000,000 micros
# Trailing metadata keys of a failed call: the serialized GoogleAdsFailure and the request id.
FAILURE_KEY = f"google.ads.googleads.{API_VERSION}.errors.googleadsfailure-bin"
REQUEST_ID_KEY = "request-id"
SERVICES = f"google.ads.googleads.{API_VERSION}.services"
