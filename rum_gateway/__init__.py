"""Real-user monitoring gateway: browser beacons in, bounded Prometheus histograms out."""
