"""Speaker turns: diarization, RTTM files and which speaker is the patient."""
