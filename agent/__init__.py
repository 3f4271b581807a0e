"""Understanding (message -> intent and slots) and wording (state -> reply). Arrives with the agent issue."""
