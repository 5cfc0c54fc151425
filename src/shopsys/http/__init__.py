"""What both roles' HTTP servers share: the JSON error format, reading bodies and parameters,
JSON responses, and request metrics, ids and logs."""
