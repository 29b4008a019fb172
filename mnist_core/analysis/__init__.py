"""The analysis stage: scores on the test set (`evaluation`), how honest a model's confidence is
and when it should say *unsure* (`calibration`), where a model looks (`explain`), and the one
verdict on a drawing that every page and the audience path use (`verdict`)."""
