"""The teacher's console of a room: /console?room=CODE&key=KEY (the link the room was opened with).
Everything is in app/rooms/console.py; the key is checked there, on the server, on every run."""
from app.rooms import console

console.page()
