"""What the bot tells people about itself: `help`, and the agent view's suggested prompts."""

from __future__ import annotations

from bot.agent.personas import Persona, Personas

# The words are those of docs/architecture.md, "What it does".
RESET_HELP = (
    "*Reset* (I forget this conversation): mention me with `reset` in the thread (in a thread "
    "I'm in, or in our DM, just `reset`), or use the message shortcut *Reset conversation* "
    "(⋮ *More actions* on any message of the thread), or `/reset <thread link>` in the "
    "thread's channel (slash commands don't work inside threads)."
)
STOP_HELP = (
    "*Stop* an answer in progress: send `stop` (or `stop answering`, `cancel`) in the "
    "thread, or press its *Stop* button."
)
FILES_HELP = (
    "*Files*: I read text files, images and PDFs attached to your message, up to a size "
    "limit; other files are skipped."
)
MEMORY_HELP = (
    "*Memory*: each thread with me is its own conversation and I remember it, also after a "
    "restart. I only see messages sent to me, not the thread's earlier history. In our DM, "
    "top-level messages are one conversation and each thread is another."
)
FEEDBACK_HELP = "*Feedback*: 👍 / 👎 under an answer tells us how it did."

PROMPTS_TITLE = "Try one of these:"
MAX_PROMPTS = 4  # what assistant.threads.setSuggestedPrompts shows
DEFAULT_PROMPTS = (
    {"title": "What can you do?", "message": "help"},
    {
        "title": "Summarize a text",
        "message": "I'll paste a text next: summarize it in three bullet points.",
    },
    {
        "title": "Brainstorm with me",
        "message": "Help me brainstorm ideas. Ask me for the topic first.",
    },
    {
        "title": "Draft a message",
        "message": "Help me draft a clear, friendly Slack message. Ask me what it should say.",
    },
)


def help_text(personas: Personas) -> str:
    lines = ["Here's how I work:", ""]
    if personas.several:
        lines.append(
            "*Personas*: start a message with `<id>:` to address one (e.g. "
            f"`{personas.all[-1].id}: …`); it stays this thread's persona until "
            "you address another or reset the thread."
        )
    else:
        lines.append("*Who answers*:")
    lines += [persona_line(persona) for persona in personas.all]
    lines += ["", MEMORY_HELP, RESET_HELP, STOP_HELP, FILES_HELP, FEEDBACK_HELP]
    return "\n".join(lines)


def persona_line(persona: Persona) -> str:
    """One persona as `help` and the Home tab list it: id, name and what it is for."""
    about = f" — {persona.description}" if persona.description else ""
    return f"• `{persona.id}` *{persona.name}*{about}"


def suggested_prompts(personas: Personas) -> list[dict[str, str]]:
    """Up to 4 {title, message} from the personas' `prompts` (defaults if none has any).

    With several personas, a prompt is addressed to its persona (`<id>: …`) and its title
    names the persona, so clicking it asks the right one.
    """
    prompts = []
    for persona in personas.all:
        for prompt in persona.prompts:
            if personas.several:
                prompts.append(
                    {"title": f"{persona.name}: {prompt}", "message": f"{persona.id}: {prompt}"}
                )
            else:
                prompts.append({"title": prompt, "message": prompt})
    return prompts[:MAX_PROMPTS] or [dict(p) for p in DEFAULT_PROMPTS]
