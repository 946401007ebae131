"""Many cases over every side: generated, booted, judged, shrunk, recorded
so a run resumes."""
