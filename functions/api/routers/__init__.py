"""The API's routes, one Powertools `Router` per resource; `app.py` includes them (README: "The routes")."""
