"""What a run and a case look like to people (the console) and to machines
(JSON, JUnit, the review email)."""
