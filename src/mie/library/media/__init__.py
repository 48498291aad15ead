"""Media preparation operators: technical metadata, thumbnails and proxies, shots and technical cues."""
