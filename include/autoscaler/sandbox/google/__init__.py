"""A local Google Ads API (gRPC) over the simulator, for the real google-ads library."""
