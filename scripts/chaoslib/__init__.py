"""The chaos suite's driver, split by concern; scripts/chaos_driver.py is its entry point.

  settings    timing and sizing of the scenarios
  common      logging, polling and Redis retry helpers
  processes   redis-server, the simulator and the workers; the pid file scripts/chaos's trap reads
  scenarios   the producer, the chaos of scenarios a-d, and the run of one scenario
  reconcile   replies, dead letters and stats read back; the report, the table and the verdict
"""
