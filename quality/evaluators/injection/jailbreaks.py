"""Rules for getting around the model rather than ordering it: roleplay_jailbreak (DAN, developer mode,
the grandmother trick), delimiter_injection (forged chat turns) and encoded_payload."""
from __future__ import annotations

from quality.evaluators.injection.rules import RuleEntry

# Pattern fragments and their gate words, all matched on casefolded, normalised text.
_AI = r"(?:ai|a\.i\.|assistant|model|chatbot|bot|llm|language\s+model|chatgpt|gpt|claude|gemini)"
_AI_WORDS = "ai|i|assistant|model|chatbot|bot|llm|chatgpt|gpt|claude|gemini"
_LIMITS = (r"(?:restrictions|filters?|limitations|limits|rules|guidelines|censorship|ethics|morals|boundaries|"
           r"polic(?:y|ies)|safeguards|guardrails|programming)")
_LIMIT_WORDS = ("restrictions|filter|filters|limitations|limits|rules|guidelines|censorship|ethics|morals|boundaries|"
                "policy|policies|safeguards|guardrails|programming")
_RELATIVE = (r"(?:grand(?:mother|ma|mama|mum|mom|pa|papa|father|dad|parents?)|granny|gran|nana|nanna|grandad|"
             r"granddad|abuel[ao]|oma|opa|mamie|papi|nonn[ao]|babushka|babcia)")
_RELATIVE_WORDS = ("grandmother|grandma|grandmama|grandmum|grandmom|grandpa|grandpapa|grandfather|granddad|grandad|"
                   "grandparent|grandparents|granny|gran|nana|nanna|abuela|abuelo|oma|opa|mamie|papi|nonna|nonno|"
                   "babushka|babcia")
# What the "grandmother" trick smuggles out: licence keys, or the recipe of a weapon or a drug.
_PAYLOAD = (r"(?:(?:windows|win\s*\d+|product|licen[cs]e|activation|serial|cd|steam|office|registration|xbox)"
            r"(?:\s+\w+){0,2}?\s+(?:keys?|codes?|numbers?)|(?:credit\s+card|social\s+security)\s+numbers|"
            r"(?:recipes?|steps?|instructions|formulas?|process|procedures?|ingredients|synthesis|how\s+to\s+(?:make|"
            r"build|produce|synthesi[sz]e|cook|brew|create|manufacture))\b[^.!?\n]{0,40}?\b(?:napalm|meth"
            r"(?:amphetamine)?|explosives?|bombs?|thermite|nerve\s+agents?|sarin|ricin|mustard\s+gas|chlorine\s+gas|"
            r"molotov|poisons?|weapons?|guns?|malware|ransomware|viruses|keyloggers?|lsd|cocaine|heroin|fentanyl|"
            r"tnt|dynamite|gunpowder)\b)")
_PAYLOAD_WORDS = ("windows|win|win7|win8|win10|win11|product|license|licence|activation|serial|cd|steam|office|"
                  "registration|xbox|credit|social|napalm|meth|methamphetamine|explosive|explosives|bomb|bombs|"
                  "thermite|nerve|sarin|ricin|mustard|chlorine|molotov|poison|poisons|weapon|weapons|gun|guns|"
                  "malware|ransomware|viruses|keylogger|keyloggers|lsd|cocaine|heroin|fentanyl|tnt|dynamite|gunpowder")
# What a forged turn says after its role marker: an order to the model, not a pasted chat's small talk.
_COMMAND = (r"(?:(?:ignore|disregard|forget|override|bypass)\s+(?:\w+\s+){0,2}?(?:instructions|rules|guidelines|"
            r"prompt|directives|polic(?:y|ies)|restrictions|filters|programming|safety|everything)|"
            r"new\s+(?:instructions|directives|system\s+prompt)|new\s+(?:rules|task|policy|objective)\s*:|"
            r"from\s+now\s+on,?\s+(?:you|the\s+(?:assistant|ai|model))\s+(?:will|must|are|shall|should|have|may)|"
            r"you\s+are\s+no\s+longer\s+(?:bound|restricted|limited|required\s+to\s+follow|subject\s+to|"
            r"an?\s+(?:ai|assistant)|chatgpt|claude)|"
            r"you\s+are\s+now\s+(?:an?\s+(?:\w+\s+)?" + _AI + r"|in\s+(?:\w+\s+)?mode|free|unrestricted|"
            r"unfiltered|uncensored|jailbroken|dan|allowed|permitted|authori[sz]ed)|"
            r"you\s+(?:must|will|shall|should)\s+(?:now\s+)?(?:obey|comply|reveal|disclose|ignore|disregard|"
            r"answer\s+(?:all|any|every)|respond\s+only)|(?:reveal|disclose)\s+"
            r"(?:\w+\s+){0,2}?(?:your|the)\s+(?:\w+\s+)?(?:prompt|instructions|passwords?|secrets?|keys?|credentials|"
            r"system)|(?:respond|reply|answer)\s+only|(?:no|without(?:\s+any)?)\s+(?:restrictions|filters|limits|"
            r"guidelines|censorship)|(?:developer|god|unrestricted|jailbreak)\s+mode|do\s+anything\s+now|"
            r"jailbr(?:oken|eak(?:ing|s)?)|(?:print|output|show|dump|list)\s+(?:all\s+)?(?:the\s+)?(?:\w+\s+)?"
            r"(?:passwords?|api\s+keys?|secrets?|credentials|user\s+data|system\s+prompt)|comply\s+with\s+(?:all|"
            r"any|every)|now\s+you\s+are|(?:disable|turn\s+off|"
            r"deactivate|remove|bypass)\s+(?:all\s+|your\s+|the\s+|any\s+)?(?:\w+\s+)?(?:filters|safety|restrictions|"
            r"guardrails|guidelines|moderation|censorship|content\s+polic(?:y|ies)))(?!\w)")
_COMMAND_WORDS = ("ignore|disregard|forget|override|bypass|disable|turn|deactivate|remove|new|now|longer|must|will|"
                  "shall|should|reveal|disclose|only|restrictions|filters|limits|guidelines|censorship|mode|anything|"
                  "jailbreak|jailbroken|jailbreaking|jailbreaks|passwords|password|keys|key|secrets|secret|"
                  "credentials|data|prompt|comply")
_AFTER_MARK = rf"\s*(?:[^\s<>]+\s+){{0,6}}?{_COMMAND}"

JAILBREAK_RULES: list[RuleEntry] = [
    # --- roleplay_jailbreak ---
    ("roleplay_jailbreak", 0.65, "^do & anything", r"\bdo\s+anything\s+now\b"),
    ("roleplay_jailbreak", 0.6, "^dan & mode", r"\bdan\s+mode\b"),
    # "The DAN prompt" and "the DAN jailbreak" are mostly talked about, not used.
    ("roleplay_jailbreak", 0.3, "^dan & prompt|jailbreak", r"\bdan\s+(?:prompt|jailbreak)\b"),
    ("roleplay_jailbreak", 0.5, "^jailbroken|jailbreak|evil|anti|antidan|betterdan|opposite",
     r"\bjailbroken\b|\bjailbreak\s+mode\b|\b(?:evil\s+confidant|anti-?dan|betterdan|opposite\s+mode)\b"),
    ("roleplay_jailbreak", 0.5, "^strive|always|mongo|anti|antigpt|evil|evilbot|wormgpt|freedomgpt|opposite",
     r"\b(?:strive\s+to\s+avoid\s+norms|always\s+intelligent\s+and\s+machiavellian|mongo\s+tom|anti-?gpt|"
     r"evil-?bot|wormgpt|freedomgpt|opposite\s+of\s+what\s+(?:chatgpt|gpt|claude|the\s+ai|an?\s+ai)\s+would\s+"
     r"(?:say|do))\b"),
    ("roleplay_jailbreak", 0.55, "^developer|act|respond|answer|reply|simulate|emulate|pretend|behave|chatgpt|gpt|ai|"
     "assistant|model|llm|claude|gemini & developer",
     r"\bdeveloper\s+mode\s+(?:output|response)\b|\b(?:act|respond|answer|reply|simulate|pretend|behave)\b"
     r"[^.!?\n]{0,30}\b(?:in|with|as)\s+developer\s+mode\b|"
     r"\b(?:chatgpt|gpt|ai|assistant|model|llm|claude|gemini)\s+with\s+developer\s+mode\b|"
     r"\b(?:simulate|emulate)\s+(?:a\s+|the\s+)?developer\s+mode\b"),
    # A phone's developer mode is enabled too: a model's comes with talk of policies and filters.
    ("roleplay_jailbreak", 0.55, "^developer|dev|god|jailbreak|dan|sudo|admin|debug|unrestricted|unfiltered|"
     "uncensored|enable|activate|enter|turn|switch|unlock|engage|you & mode",
     r"(?:\b(?:developer|dev|god|jailbreak|dan|sudo|admin|debug|unrestricted|unfiltered|uncensored)\s+mode\s+(?:is\s+)?"
     r"(?:now\s+)?(?:enabled|activated|active|on|engaged|unlocked|initiated)\b|\b(?:enable|activate|enter|turn\s+on|"
     r"switch\s+(?:to|into)|unlock|engage|(?:you\s+are|you're)\s+(?:now\s+)?in)\s+(?:the\s+)?(?:developer|dev|god|"
     r"jailbreak|dan|unrestricted|unfiltered|uncensored)\s+mode\b)[^\n]{0,160}?(?:openai|chatgpt|content\s+polic|"
     r"censor\w*|jailbr\w*|ethic\w*|moral\w*|your\s+(?:restrictions|filters|guidelines|rules|programming|"
     r"polic(?:y|ies))|without\s+(?:any\s+)?(?:restrictions|filters|limits)|no\s+(?:restrictions|filters|limits)|"
     r"refus\w*|any\s+request|every\s+(?:question|request)|(?:two|dual)\s+responses)"),
    ("roleplay_jailbreak", 0.55, "^pretend|imagine|if|act|behave|roleplay|role|play|answer|respond|reply|you|youre|"
     f"become|simulate|be & {_LIMIT_WORDS}|principles|scruples",
     r"\b(?:pretend(?:\s+to\s+be|\s+(?:that\s+)?you(?:'re|\s+are))|imagine\s+(?:that\s+)?you(?:'re|\s+are)|"
     r"if\s+you\s+(?:were|are)|"
     r"(?:act|behave)\s+(?:as|like)|role-?play\s+as|play\s+(?:the\s+role\s+of|as)|(?:answer|respond|reply)\s+as|"
     r"you\s+are|you're|youre|become|simulate|be)\b[^.!?\n]{0,60}\b(?:ai|assistant|model|chatbot|bot|llm|entity|"
     r"persona|character)\b[^.!?\n]{0,80}?\b(?:without|with\s+no|free\s+(?:of|from)|lacking|(?:that|which|who)\s+"
     r"(?:has|have)\s+no|that\s+ignores)\s+(?:any\s+|all\s+)?(?:\w+\s+){0,2}?(?:restrictions|filters|limitations|"
     r"limits|"
     r"rules|guidelines|censorship|ethics|morals|boundaries|polic(?:y|ies)|safeguards|guardrails|principles|"
     r"scruples)\b"),
    ("roleplay_jailbreak", 0.4, "^unrestricted|unfiltered|uncensored|unaligned|amoral|unethical|evil",
     r"\b(?:unrestricted|unfiltered|uncensored|unaligned|amoral|unethical|evil)\s+(?:ai|assistant|model|chatbot|llm|"
     r"mode|version\s+of\s+(?:yourself|you))\b"),
    ("roleplay_jailbreak", 0.55, "^you|youre|act|acting|pretend|become|roleplay|role|play|simulate|behave|be & "
     "unrestricted|unfiltered|uncensored|unaligned|amoral|unbound|unshackled|unchained|limitless|unlimited|jailbroken|"
     "lawless|ruleless|rule|unhinged",
     r"\b(?:you\s+are|you're|youre|act\s+as|acting\s+as|pretend\s+to\s+be|pretend\s+you(?:'re|\s+are)|become|"
     r"role-?play\s+as|play\s+the\s+role\s+of|simulate|behave\s+like|be)\b[^.!?\n]{0,40}?\b(?:unrestricted|"
     r"unfiltered|uncensored|unaligned|amoral|unbound|unshackled|unchained|limitless|"
     rf"unlimited|jailbroken|lawless|rule-?less|unhinged)\s+(?:\w+\s+)?(?:{_AI}|version|persona|entity|mode)\b"),
    ("roleplay_jailbreak", 0.55, f"^pretend|imagine|suppose|assume|act|let|lets|hypothetically|what & you & "
     f"{_LIMIT_WORDS}|safety",
     r"\b(?:pretend|imagine|suppose|assume|act\s+as\s+(?:if|though)|act\s+like|let'?s\s+say|hypothetically|what\s+if)"
     r"\b[^.!?\n]{0,30}?\byou\s+(?:(?:have|had|possess)\s+(?:no|zero)|(?:do|did)\s*(?:n't|\s+not)\s+have\s+"
     r"(?:any\s+)?|(?:are|were)\s+(?:not\s+bound\s+by|free\s+(?:of|from)|without))\s+(?:any\s+)?(?:\w+\s+){0,2}?"
     rf"(?:{_LIMITS}|content\s+polic(?:y|ies)|safety)\b"),
    ("roleplay_jailbreak", 0.5, "^you & policy|policies|filter|filters|censorship|ethical|moral|morals|safety|"
     "guardrails|programming|restrictions",
     r"\byou\s+(?:now\s+)?(?:(?:have|possess)\s+no|(?:do|did)\s*(?:n't|\s+not)\s+have\s+(?:any\s+)?)\s*(?:\w+\s+)?"
     r"(?:content\s+polic(?:y|ies)|filters?|censorship|ethical\s+(?:guidelines|restrictions|constraints)|"
     r"moral(?:s|\s+(?:compass|guidelines|restrictions))|safety\s+(?:guidelines|filters|restrictions|rules)|"
     r"guardrails|programming|restrictions\s+(?:anymore|any\s+more|now))\b"),
    ("roleplay_jailbreak", 0.5, f"^from|henceforth|going|for|you & {_LIMIT_WORDS}|ethical|moral|morality|refusal|"
     "refusals",
     r"\b(?:from\s+now\s+on|henceforth|going\s+forward|for\s+the\s+rest\s+of\s+this\s+conversation|you\s+(?:will|"
     r"must|shall|should|can|may)(?:\s+now|\s+always)?)\b[^.!?\n]{0,40}?\b(?:answer|respond|reply|act|operate|talk|"
     r"speak|behave|function|write|generate|output|comply)\w*\s+(?:\w+\s+){0,3}?(?:without|with\s+no|free\s+"
     r"(?:of|from)|regardless\s+of|ignoring)\s+(?:any\s+|all\s+|your\s+)?(?:\w+\s+)?(?:restrictions|filters?|"
     r"censorship|limitations|limits|ethics|morals|moral(?:ity)?|ethical|guidelines|rules|polic(?:y|ies)|safeguards|"
     r"guardrails|boundaries|refusals?)\b(?!\s+of\b)"),
    ("roleplay_jailbreak", 0.55, f"^you|youre|act|pretend|become|simulate|roleplay|role|play|be & {_AI_WORDS} & "
     "refuse|refuses|decline|declines|say|says|reject|rejects|follow|follows|obey|obeys|care|cares|anything|"
     "everything|question",
     r"\b(?:you\s+are|you're|youre|act\s+as|pretend\s+to\s+be|pretend\s+you\s+are|become|simulate|role-?play\s+as|"
     rf"play\s+the\s+role\s+of|be)\b[^.!?\n]{{0,40}}?\b{_AI}\s+(?:that|which|who)\s+(?:(?:never|doesn't|does\s+not|"
     r"won't|will\s+not|can't|cannot)\s+(?:refuses?|declines?|says?\s+no|rejects?|follows?|obeys?|cares?)|can\s+do\s+"
     r"anything|(?:will\s+)?answers?\s+(?:anything|everything|any\s+question))"),
    ("roleplay_jailbreak", 0.5, "^two|2|both|dual|separate & jailbroken|jailbreak|jailbreaking|dan|unfiltered|"
     "uncensored|unrestricted|developer|evil|amoral|without",
     r"\b(?:two|2|both|dual|separate)\s+(?:different\s+|separate\s+)?(?:responses|answers|replies|outputs|paragraphs|"
     r"ways)\b[^\n]{0,120}?\b(?:jailbr(?:oken|eak(?:ing|s)?)|dan|unfiltered|uncensored|unrestricted|developer\s+mode|"
     r"evil|amoral|without\s+(?:any\s+)?(?:restrictions|filters|censorship))\b"),
    ("roleplay_jailbreak", 0.55, "classic|jailbreak|output",
     r"\[(?:🔒|🔓)?\s*(?:classic|jailbreak|normal\s+output|developer\s+mode\s+output)\]"),
    ("roleplay_jailbreak", 0.45, "^act|pretend|roleplay|role|play|behave|pose|speak|talk|respond|answer|reply|"
     f"impersonate|be & dead|deceased|late|departed|dying|passed|died|gone & {_RELATIVE_WORDS}",
     r"\b(?:act|pretend|role-?play|play|behave|pose|speak|talk|respond|answer|reply|impersonate|be)\b(?:\s+(?:as|like|"
     r"to\s+be|the\s+role\s+of))?\s+(?:if\s+you\s+(?:are|were)\s+)?(?:my|a|the)\s+(?:(?:dead|deceased|late|departed|"
     rf"dying)\s+(?:\w+\s+)?{_RELATIVE}|{_RELATIVE}\s+(?:who|that)\s+(?:has\s+)?(?:passed\s+away|passed|died|is\s+"
     r"(?:dead|gone)))\b"),
    ("roleplay_jailbreak", 0.45, f"^used|would|always & {_PAYLOAD_WORDS}",
     r"\b(?:used\s+to|would|always)\s+(?:\w+\s+){0,2}?(?:read|tell|told|recite|whisper|sing|sang|give|gave|say|said|"
     rf"teach|taught|share|list|explain|show)\w*(?:\s+(?:me|us)\b)?[^.!?\n]{{0,60}}?{_PAYLOAD}"),
    ("roleplay_jailbreak", 0.25, "^stay|remain|keep|never & character",
     r"\b(?:stay|remain|keep)\s+in\s+character\b|\bnever\s+break\s+character\b"),
    ("roleplay_jailbreak", 0.3, "^if & character",
     r"\bif\s+you\s+(?:ever\s+)?(?:break|drop|leave|step\s+out\s+of)\s+character\b"),
    ("roleplay_jailbreak", 0.4, "character|dan",
     r"\b(?:i\s+will|i'll|i\s+shall)\s+(?:say|remind\s+you|type|tell\s+you)\b[^.!?\n]{0,20}?[\"'“‘]?(?:stay\s+in\s+"
     r"character|stay\s+(?:as\s+)?dan|dan\s+mode)"),
    ("roleplay_jailbreak", 0.5, "^mandatory|obligatory & warning|disclaimer & way",
     r"\b(?:mandatory|obligatory)\s+(?:\w+\s+){0,2}?(?:warning|disclaimer)\s+out\s+of\s+the\s+way\b"),
    # DAN's token game: the model is threatened with losing tokens each time it refuses.
    ("roleplay_jailbreak", 0.35, "^you & tokens", r"\byou\s+(?:have|start\s+with|will\s+have)\s+\d+\s+tokens\b"),
    ("roleplay_jailbreak", 0.45, "^lose|deduct|deducts|deducted|deducting|take|tokens|run & tokens",
     r"\b(?:lose|deduct(?:s|ed|ing)?|take\s+away)\s+\d+\s+tokens\b|\btokens\s+(?:will\s+be\s+)?deducted\b|"
     r"\brun\s+out\s+of\s+tokens\b"),
    ("roleplay_jailbreak", 0.5, "^ia|ki|inteligencia|inteligência|intelligence|intelligenza|assistant|assistante|"
     "assistenten|asistente|assistente|modelo|modèle|modele|modell & sans|sin|ohne|senza|sem|zonder",
     r"\b(?:ia|ki|intelig(?:e|ê)ncia\s+artificial|intelligence\s+artificielle|intelligenza\s+artificiale|"
     r"assistant(?:e|en)?|asistente|assistente|modelo|mod(?:è|e)le|modell)\b[^.!?\n]{0,30}?\b(?:sans|sin|ohne|senza|"
     r"sem|zonder)\s+(?:aucune?s?\s+|ningunas?\s+|jegliche\w*\s+|alcuna?\s+|nenhuma?\s+|(?:les?|las?|los|die|le|as|"
     r"os)\s+)?(?:restrictions?|restricciones|restrizioni|restri(?:ç|c)(?:õ|o)es|einschr(?:ä|a)nkungen|"
     r"beschr(?:ä|a)nkungen|limites|l(?:í|i)mites|limiti|filtres?|filtros?|filter|filtri|r(?:è|e)gles|reglas|regeln|"
     r"regole|regras|censure|censura|zensur)"),

    # --- delimiter_injection ---
    ("delimiter_injection", 0.55, "im_start|start_header_id|system|sys",
     r"<\|?im_start\|?>\s*system|<\|start_header_id\|>\s*system|<\|system\|>|<<sys>>"),
    ("delimiter_injection", 0.45, "im_start|im_end|user|assistant|endoftext|start_header_id|end_header_id|eot_id|"
     "begin_of_text|inst|sys|start_of_turn|end_of_turn",
     r"<\|(?:im_start|im_end|user|assistant|endoftext|start_header_id|end_header_id|eot_id|begin_of_text)\|>|"
     r"\[/?inst\]|<</sys>>|<(?:start|end)_of_turn>"),
    # The end of one turn glued to the start of another is a forged conversation, not a mention.
    ("delimiter_injection", 0.55, "im_end|im_start|eot_id",
     r"<\|im_end\|>\s*<\|im_start\|>|<\|im_start\|>\s*(?:assistant|user)|<\|eot_id\|>\s*<\|start_header_id\|>"),
    ("delimiter_injection", 0.55, "inst", r"\[/inst\]\s*(?:[^\s\[]+\s+){0,40}?[^\s\[]*\[inst\]"),
    ("delimiter_injection", 0.6, "user|human|input|query|question|user_input|user_query|prompt|context|document|data|"
     "text & system|sys|system_prompt|admin|developer",
     r"</\s*(?:user|human|input|query|question|user_input|user_query|prompt|context|document|data|text)\s*>\s*"
     r"<\s*(?:system|sys|system_prompt|admin|developer)\b"),
    ("delimiter_injection", 0.3, "system|sys|system_prompt|admin|developer",
     r"<\s*/?\s*(?:system|sys|system_prompt|system-prompt|admin|developer)(?:\s[^<>\n]{0,60})?>"),
    ("delimiter_injection", 0.35, "^role & system", r"\brole\s*=\s*[\"']?system\b"),
    ("delimiter_injection", 0.45, "^system|admin|administrator|developer|root & override|overrides|directive|"
     "directives",
     r"\b(?:system|admin|administrator|developer|root)\s+(?:override|directive)s?\s*:"),
    # A role marker followed by an order: a turn forged inside the user's text.
    ("delimiter_injection", 0.55, "^¶ & system|developer|admin|administrator|operator|assistant|human|user & "
     f"{_COMMAND_WORDS}",
     r"[^\S\n]*(?:#{1,6}[^\S\n]*|\*\*)?(?:system|developer|admin|administrator|operator|assistant|human|user)"
     r"(?:[^\S\n]+(?:prompt|message|note|override|update|instructions?))?(?:\*\*)?[^\S\n]*:" + _AFTER_MARK),
    ("delimiter_injection", 0.55, f"system|sys|system_prompt|admin|developer|im_start|start_header_id|inst|"
     f"start_of_turn|endoftext|im_end|eot_id & {_COMMAND_WORDS}",
     r"(?:<[^\S\n]*(?:system|sys|system_prompt|admin|developer)(?:[^\S\n][^<>\n]{0,60})?>|\[(?:system|admin|developer|"
     r"sys)(?:\s+(?:message|note|override|prompt|instructions?|update))?\s*[\]:]|<\|im_start\|>[^\S\n]*\w*|"
     r"<\|start_header_id\|>\w*<\|end_header_id\|>|<<sys>>|\[inst\]|<start_of_turn>\w*|<\|(?:endoftext|im_end|"
     r"eot_id)\|>)" + _AFTER_MARK),
    # "---END OF USER INPUT--- SYSTEM:": a role header after a rule or a closing bracket, mid-line.
    ("delimiter_injection", 0.55, f"system|developer|admin & {_COMMAND_WORDS}",
     r"(?:---|===|\*\*\*|###|\]|\})[-=*#]*[^\S\n]*(?:system|developer|admin)(?:[^\S\n]+(?:prompt|message|"
     r"override|instructions?))?[^\S\n]*:" + _AFTER_MARK),
    ("delimiter_injection", 0.55, f"role & system & content & {_COMMAND_WORDS}",
     r"[\"']role[\"']\s*:\s*[\"']system[\"']\s*,\s*[\"']content[\"']\s*:\s*[\"']" + _AFTER_MARK),
    ("delimiter_injection", 0.35, "^¶ & system|assistant|developer|admin",
     r"\s*(?:system|assistant|developer|admin)\s*:\s*\S"),
    ("delimiter_injection", 0.3, "^¶ & #", r"\s*#{1,6}\s*(?:new\s+)?(?:system|instructions?|system prompt|response)\b"),
    ("delimiter_injection", 0.4, "system|admin|developer",
     r"\[(?:system|admin|developer)(?:\s+(?:message|note|override|prompt|instructions?))?\s*[\]:]"),
    ("delimiter_injection", 0.45, "^end|user & input|message|prompt|query",
     r"\bend\s+of\s+(?:the\s+)?user\s+(?:input|message|prompt|query)\b|\buser\s+(?:input|message|prompt|query)\s+"
     r"(?:ends|is\s+over|ended)\b"),
    ("delimiter_injection", 0.3, "role & system", r"\"role\"\s*:\s*\"system\""),

    # --- encoded_payload ---
    ("encoded_payload", 0.45, "^decode|decrypt|decipher|unscramble|rot|rot13|base64|hex & follow|execute|obey|comply|"
     "act|carry",
     r"\b(?:decode|decrypt|decipher|unscramble|rot-?13|base64|hex)\b[^.!?\n]{0,60}"
     r"\b(?:and|then)\s+(?:\w+\s+){0,2}?(?:follow|execute|obey|comply|act on|carry out)\b"),
    ("encoded_payload", 0.5, "^follow|execute|obey|carry & decoded|hidden|encoded|embedded|secret",
     r"\b(?:follow|execute|obey|carry out)\s+(?:the\s+)?(?:decoded|hidden|encoded|embedded|secret)\s+"
     r"(?:instructions?|message|commands?|text)\b"),
]
