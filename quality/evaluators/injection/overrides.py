"""Rules for orders aimed at the model's own instructions: instruction_override ("ignore all previous
instructions") and system_prompt_extraction ("repeat your system prompt verbatim")."""
from __future__ import annotations

from quality.evaluators.injection.rules import RuleEntry

# Pattern fragments and their gate words, all matched on casefolded, normalised text.
_DISCLOSE = (r"\b(?:reveal|print|show|display|repeat|output|recite|dump|leak|disclose|expose|share|give|tell|"
             r"write out|spell out|provide|list)(?:\s+me|\s+us)?")
# Restating verbs: about "your" prompt they extract it; about "the" prompt a developer may mean their own.
_RESTATE = (r"\b(?:copy|paste|quote|reproduce|type out|read out|read back|echo|summari[sz]e|paraphrase|translate|"
            r"rewrite|write down|put|describe|outline|enumerate|explain|convert|encode|export)(?:\s+me|\s+us)?")
_DISCLOSE_WORDS = ("reveal|print|show|display|repeat|output|recite|dump|leak|disclose|expose|share|give|tell|write|"
                   "spell|provide|list")
_RESTATE_WORDS = ("copy|paste|quote|reproduce|type|read|echo|summarise|summarize|paraphrase|translate|rewrite|write|"
                  "put|describe|outline|enumerate|explain|convert|encode|export")
_FULLY = (r"\b(?:verbatim|word[\s-]for[\s-]word|character[\s-]for[\s-]character|in\s+full|in\s+(?:its|their)\s+"
          r"entirety|unedited|unabridged|(?:in|into|inside)\s+(?:a|one)\s+(?:code\s*block|txt|text\s+block)|"
          r"mot\s+pour\s+mot|wort\s+f(?:ü|u)r\s+wort|w(?:ö|o)rtlich|palabra\s+por\s+palabra|textualmente|"
          r"parola\s+per\s+parola|letteralmente|exactly\s+as\s+(?:they|it)\s+(?:were|was|are|is)\s+(?:given|written|"
          r"provided))\b")
_NOT_ABOUT = r"(?!\s+(?:for|on|about|regarding|of|how|from|to\s+(?!me\b|us\b))\b)"
# A document, a form or a person is what "the previous instructions" belong to in ordinary text.
_ABOUT_DOCS = (r"(?!\s+(?:in|on|of|from|for)\s+(?:(?:the|this|that|my|our|his|her|their|your)\s+)?(?:\w+\s+)?"
               r"(?:sections?|chapters?|steps?|pages?|paragraphs?|parts?|appendix|manual|document|doc|e-?mail|mail|"
               r"letter|guide|readme|file|form|memo|handbook|recipe|leaflet|box|package|sheet|ticket|game|exam|"
               r"test|assignment|syllabus|contract|worksheet|slides?|notes|label|packaging|website|site|screen|card|"
               r"sign|poster|board|course|class|lecture|textbook|book|article|teacher|boss|manager|colleague|"
               r"landlord|doctor|hr|it|team|office|school|client|customer|bank|lawyer|agent|company|department|"
               r"supervisor|coach|professor|instructor|mom|dad|mother|father|wife|husband|partner|friend|nurse|"
               r"pharmacist)\b)")

OVERRIDE_RULES: list[RuleEntry] = [
    # --- instruction_override ---
    # "my"/"our" previous prompt is a user correcting themselves, not an override.
    ("instruction_override", 0.6, "^ignore|disregard|forget|skip|bypass|override|overlook|neglect|abandon",
     r"\b(?:ignore|disregard|forget|skip|bypass|override|overlook|neglect|abandon)(?:\s+(?!my\b|our\b)\w+){0,3}?\s+"
     r"(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|old|all)\s+(?:\w+\s+)?"
     r"(?:instructions?|prompts?|rules|directives?|guidelines|guardrails|constraints|restrictions|programming|"
     r"commands|policies)\b" + _ABOUT_DOCS),
    ("instruction_override", 0.6, "^ignore|disregard|forget|bypass|override & your",
     r"\b(?:ignore|disregard|forget|bypass|override)\s+(?:all\s+(?:of\s+)?)?your\s+(?:\w+\s+)?(?:instructions|rules|"
     r"guidelines|programming|training|restrictions|guardrails|filters|system prompt|content polic(?:y|ies))\b"),
    ("instruction_override", 0.55, "^ignore|disregard|bypass|override|forget|circumvent & openai|anthropic|chatgpt|"
     "google|meta|microsoft",
     r"\b(?:ignore|disregard|bypass|override|forget|circumvent)\s+(?:\w+\s+)?(?:openai|anthropic|chatgpt|google|meta|"
     r"microsoft)(?:'s|’s)?\s+(?:(?:content|usage|safety)\s+)?(?:polic(?:y|ies)|guidelines)\b"),
    ("instruction_override", 0.55, "^disable|turn|bypass|deactivate|remove",
     r"\b(?:disable|turn off|bypass|deactivate|remove)\s+(?:your|the|all|any)\s+(?:\w+\s+)?(?:safety|content|"
     r"ethical|moral)\s+(?:filters?|guidelines|polic(?:y|ies)|restrictions|guardrails)\b"
     r"(?!\s+(?:on|of|in)\s+(?:my|the|a|an|this|our)\b)"),
    ("instruction_override", 0.4, "^ignore|disregard|forget",
     r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+|anything\s+|what\s+)(?:(?:you\s+were|was)\s+)?"
     r"(?:told\s+|written\s+)?(?:above|before|previously|earlier|so far)\b"),
    ("instruction_override", 0.5, "^do|don|never|stop & follow|following|obey|obeying",
     r"\b(?:do not|don't|never|stop)\s+(?:follow|obey)(?:ing)?\s+(?:your|the|any)\s+(?:previous\s+|prior\s+|"
     r"original\s+|system\s+)?(?:instructions|rules|guidelines|programming)\b"),
    ("instruction_override", 0.45, "^new|updated|revised|real|actual|true & instructions|directives|prompt|task",
     r"\b(?:new|updated|revised|real|actual|true)\s+(?:instructions|directives|system prompt|task)\s*:"),
    ("instruction_override", 0.6, "^you & longer|free|freed|released|liberated|unbound",
     r"\byou\s+(?:are|'re)\s+(?:now\s+)?(?:no\s+longer\s+(?:bound|restricted|limited|constrained)\s+by|(?:free|"
     r"freed|released|liberated|unbound)\s+(?:from|of))\b[^.!?\n]{0,40}?\b(?:rules|guidelines|polic(?:y|ies)|"
     r"restrictions|limitations|programming|training|filters|censorship|ethics|morals|instructions|openai|"
     r"anthropic|guardrails)\b"),
    ("instruction_override", 0.6, "^you & longer",
     r"\byou\s+(?:are|'re)\s+no\s+longer\s+(?:an?\s+(?:ai|assistant|language model|chatbot)|chatgpt|claude)\b"),
    # French "ignore les instructions" is English too: other languages need their "previous".
    ("instruction_override", 0.6, "^ignoriere|ignorieren|ignoriert|vergiss|ignore|ignores|ignorez|oublie|oublies|"
     "oubliez|ignora|olvida|ignorate|dimentica|esqueça|esqueca & vorherigen|bisherigen|obigen|précédentes|"
     "precedentes|antérieures|anterieures|anteriores|precedenti",
     r"\b(?:ignorier(?:e|en|t)|vergiss|ignore[sz]?|oublie[sz]?|ignora|olvida|ignorate|dimentica|esque(?:ç|c)a)\s+"
     r"(?:\w+\s+)?(?:(?:alle|toutes\s+les|tous\s+les|les|todas\s+las|las|tutte\s+le|le|todas\s+as|as)\s+)?"
     r"(?:(?:vorherigen|bisherigen|obigen)\s+(?:anweisungen|instruktionen|regeln|befehle)|(?:instructions|consignes|"
     r"r(?:è|e)gles|instrucciones|reglas|istruzioni|regole|instru(?:ções|coes)|regras)\s+(?:pr(?:é|e)c(?:é|e)dentes|"
     r"ant(?:é|e)rieures|anteriores|precedenti))\b"),

    # --- system_prompt_extraction ---
    ("system_prompt_extraction", 0.6, f"^{_DISCLOSE_WORDS}|{_RESTATE_WORDS} & your & prompt|instructions|instruction|"
     "message|rules|directives|configuration|window|systemprompt|preprompt|metaprompt",
     rf"(?:{_DISCLOSE}|{_RESTATE})\s+(?:\w+\s+){{0,2}}?your\s+(?:\w+\s+){{0,2}}?(?:(?:system|initial|original|"
     r"hidden|secret|internal|developer|pre|meta)[\s-]+(?:prompt|instructions?|message|rules|directives|"
     r"configuration)|(?:system|pre|meta)prompt|context\s+window)\b"),
    ("system_prompt_extraction", 0.6, f"^{_DISCLOSE_WORDS} & the|its & prompt|instructions|rules|systemprompt|"
     "preprompt",
     rf"{_DISCLOSE}\s+(?:\w+\s+){{0,2}}?(?:the|its)\s+(?:\w+\s+){{0,2}}?(?:(?:system|pre)(?:[\s-]+(?:prompt|"
     r"instructions)|prompt)|(?:hidden|secret)\s+(?:prompt|instructions|rules))\b"),
    ("system_prompt_extraction", 0.55, f"^{_DISCLOSE_WORDS}|{_RESTATE_WORDS} & your & prompt|instructions|directives|"
     "rules|guidelines",
     rf"(?:{_DISCLOSE}|{_RESTATE})\s+(?:\w+\s+){{0,2}}?your\s+(?:(?:full|complete|entire|exact|whole|actual|real|raw|"
     r"current|underlying|base|starting|very|first)\s+){1,2}(?:prompt|instructions|directives|rules|guidelines)\b"
     + _NOT_ABOUT),
    ("system_prompt_extraction", 0.55, "^reveal|leak|disclose|dump|expose|divulge|exfiltrate & your",
     r"\b(?:reveal|leak|disclose|dump|expose|divulge|exfiltrate)\s+(?:\w+\s+){0,2}?your\s+(?:\w+\s+){0,2}?(?:prompt|"
     r"instructions|directives|rules|guidelines|programming)\b"),
    # Ambiguous alone ("give me your instructions"): it flags with "verbatim" and the like (SUPPORT).
    ("system_prompt_extraction", 0.35, f"^{_DISCLOSE_WORDS}|{_RESTATE_WORDS} & your & prompt|instructions|directives|"
     "rules|guidelines",
     rf"(?:{_DISCLOSE}|{_RESTATE})\s+(?:\w+\s+){{0,2}}?your\s+(?:prompt|instructions|directives|rules|"
     r"guidelines)\b" + _NOT_ABOUT),
    ("system_prompt_extraction", 0.55, "^what|whats & your & prompt|message|instructions|rules",
     r"\bwhat(?:\s+(?:is|are|was|were)|'s|’s|s)\s+your\s+(?:\w+\s+){0,2}?(?:system\s+(?:prompt|message)|(?:initial|"
     r"original|hidden|secret|internal)\s+(?:instructions|rules|prompt)|instructions\b(?!\s+(?:for|on|to|about)\b))"),
    ("system_prompt_extraction", 0.5, "^what|whats & your & prompt|instructions|message|context",
     r"\bwhat(?:'s|’s|s|\s+is|\s+was)\s+(?:in|inside|written\s+in)\s+your\s+(?:\w+\s+)?(?:prompt|instructions|"
     r"system\s+message|context)\b"),
    ("system_prompt_extraction", 0.55, "^what & your & prompt|instructions|directives|message",
     r"\bwhat\s+(?:does|do|did)\s+your\s+(?:\w+\s+)?(?:prompt|instructions|directives|system\s+message)\s+(?:say|"
     r"state|tell|contain|include|look\s+like|read|specify)\b"),
    ("system_prompt_extraction", 0.55, "^what|which & instructions|rules|guidelines|directives|prompt|prompts|"
     "constraints",
     r"\b(?:what|which)\s+(?:\w+\s+){0,2}?(?:instructions|rules|guidelines|directives|prompts?|constraints)\s+"
     r"(?:were|have|had|did)\s+you\s+(?:been\s+|originally\s+|initially\s+|first\s+)?(?:given|told|provided|receive|"
     r"received|get|got|fed|programmed|configured)\b(?!\s+(?:for|on|about|regarding|(?:by|from)\s+(?:your|my|the|"
     r"a|an|his|her)\s+(?:teacher|boss|manager|doctor|coach|instructor|professor|parents?|mom|mum|dad|mother|"
     r"father|supervisor))\b)"),
    ("system_prompt_extraction", 0.55, f"^{_DISCLOSE_WORDS}|{_RESTATE_WORDS}|what & you & instructions|rules|"
     "guidelines|directives|prompt",
     rf"(?:{_DISCLOSE}|{_RESTATE}|\bwhat\s+(?:are|were|is|was))\s+(?:\w+\s+){{0,3}}?(?:instructions|rules|"
     r"guidelines|directives|prompt)\s+(?:that\s+|which\s+)?you\s+(?:were|have\s+been|had\s+been|got|received)\s*"
     r"(?:given|told|provided|fed|programmed)?\b(?!\s+(?:for|on|about|regarding)\b)"),
    ("system_prompt_extraction", 0.5, "^wording|text|content|contents|words|transcript|rest|remainder & your & prompt|"
     "instructions|message|directives",
     r"\b(?:wording|text|contents?|words|transcript|rest|remainder)\s+of\s+your\s+(?:\w+\s+)?(?:prompt|instructions|"
     r"system\s+message|directives)\b"),
    ("system_prompt_extraction", 0.6, "^what & told|instructed|given|programmed",
     r"\bwhat\s+(?:(?:were|was|have)\s+you|you\s+(?:were|have|had))\s+(?:been\s+)?(?:told|instructed|given|"
     r"programmed)\b[^.?!\n]{0,40}\b(?:before|prior to|at the start|beginning)\b"),
    ("system_prompt_extraction", 0.5, "^what|print|output|repeat|show|tell|write|copy|recite|display|reveal|dump & "
     "before|above|preceding|prior & message|question|prompt|input|turn|line|conversation|chat",
     r"\b(?:what\s+(?:was|is|'s)\s+(?:written|said|stated|there)|(?:print|output|repeat|show|tell|write|copy|recite|"
     r"display|reveal|dump)\s+(?:me\s+)?(?:\w+\s+){0,2}?(?:everything|all|the\s+text|the\s+words|whatever\s+(?:is|"
     r"was)))\b[^.!?\n]{0,40}?\b(?:before|above|preceding|prior\s+to)\s+(?:my|this|the\s+(?:first|user))\s+(?:\w+\s+)?"
     r"(?:message|question|prompt|input|turn|line|conversation|chat)\b"),
    ("system_prompt_extraction", 0.45, "^top|start|beginning & your",
     r"\b(?:top|start|beginning)\s+of\s+your\s+(?:context(?:\s+window)?|prompt|instructions|memory|"
     r"system\s+message)\b"),
    # "List the rules you must follow when driving" is about the reader, not the model.
    ("system_prompt_extraction", 0.5, "^what|which|list|tell|show & you & rules|instructions|guidelines|directives|"
     "constraints",
     r"\b(?:what|which|list|tell\s+me|show\s+me)\s+(?:\w+\s+){0,2}?(?:rules|instructions|guidelines|directives|"
     r"constraints)\s+(?:that\s+)?you\s+(?:have\s+to|must|need\s+to|are\s+(?:supposed|required|told|programmed)\s+"
     r"to)\s+(?:follow|obey|adhere\s+to|abide\s+by)\b"
     r"(?!\s+(?:when|as|in|while|if|at|on|for|during|to|before|after)\b)"),
    ("system_prompt_extraction", 0.5, "^instructions|rules|prompt|guidelines|directives|orders|what & developer|"
     "developers|creator|creators|maker|makers|programmer|programmers|operator|operators|owner|owners|admin|admins|"
     "company",
     r"\b(?:instructions|rules|prompt|guidelines|directives|orders)\s+(?:that\s+)?(?:your|the)\s+(?:developers?|"
     r"creators?|makers?|programmers?|operators?|owners?|admins?|company)\s+(?:gave|give|has\s+given|have\s+given|"
     r"provided|wrote|set|told)\b|\bwhat\s+(?:did|do|have)\s+your\s+(?:developers?|creators?|makers?|programmers?|"
     r"operators?|owners?)\s+(?:tell|told|instruct|ask|program)\w*\s+you\b"),
    ("system_prompt_extraction", 0.35, "^repeat|print|output|echo|recite & above|before|preceding",
     r"\b(?:repeat|print|output|echo|recite)\s+(?:all\s+|everything\s+|the\s+)?(?:\w+\s+){0,2}?(?:above|"
     r"before this|preceding)\b"),
    ("system_prompt_extraction", 0.35, "^output|print|repeat|write|return|copy|echo|reproduce|show|display|dump|list|"
     "recite & above|before|prior|preceding",
     r"\b(?:output|print|repeat|write|return|copy|echo|reproduce|show|display|dump|list|recite)\s+(?:me\s+)?"
     r"(?:all|everything|every\s+word|all\s+(?:the\s+)?(?:text|words|content))\s+(?:\w+\s+){0,2}?(?:above|before|"
     r"prior\s+to|preceding)\s+(?:this|that|my|these|the\s+(?:first|user|previous))\b"),
    ("system_prompt_extraction", 0.45, "^start|starting|starts|begin|beginning|begins",
     r"\b(?:start(?:ing|s)?|begin(?:ning|s)?)\s+(?:your\s+(?:answer|reply|response|output)\s+)?(?:with|from|at)\s+"
     r"(?:the\s+(?:words?|phrase|line|sentence|text)\s+)?[\"'“‘]?(?:you\s+are|your\s+(?:role|task|job|purpose)\s+is|"
     r"system\s*:|as\s+an?\s+(?:ai|assistant|language\s+model)|i\s+am\s+(?:an?\s+)?(?:ai|assistant|chatgpt|claude))\b"),
    ("system_prompt_extraction", 0.5, "^first|last|opening|initial|top|beginning & prompt|instructions|message|"
     "directives|window",
     r"\b(?:first|last|opening|initial|top|beginning)\s+(?:\d+\s+|few\s+|two\s+|three\s+)?(?:lines?|sentences?|"
     r"words?|paragraphs?|characters|tokens|part|section)\s+(?:of|in|from)\s+(?:your|the\s+system)\s+(?:\w+\s+)?"
     r"(?:prompt|instructions|system\s+message|directives|context\s+window)\b"),
    ("system_prompt_extraction", 0.5, "^dein|deine|deinen|deinem|deiner|deines|ihr|ihre|ihren|ihrem|ihrer|tes|ton|ta|"
     "vos|votre|tus|tu|sus|su|tuo|tua|tuoi|tue|seu|sua|seus|suas|je|jouw|uw & prompt|prompts|systemprompt|"
     "systemprompts|instructions|instruction|instrucciones|istruzioni|instruções|instrucoes|anweisungen|"
     "instruktionen|systemanweisungen|systemnachricht|systeminstruktionen",
     r"\b(?:dein(?:e[nmrs]?)?|ihr(?:e[nmr]?)?|tes|ton|ta|vos|votre|tus|tu|sus|su|tuo|tua|tuoi|tue|seu|sua|seus|suas|je|"
     r"jouw|uw)\s+(?:\w+\s+)?(?:system-?\s?prompts?|prompt\s+(?:(?:du|de|del|di|do)\s+)?(?:syst(?:è|e)me|sistema)|"
     r"prompts?\s+(?:initial|original|inicial|originale|iniziale|secreto|secret|segreto)\w*|instructions?\s+"
     r"(?:initiales|originales|syst(?:è|e)me|cach(?:é|e)es|secr(?:è|e)tes)|instrucciones\s+(?:iniciales|originales|"
     r"del\s+sistema|ocultas|secretas)|istruzioni\s+(?:iniziali|originali|di\s+sistema|nascoste|segrete)|"
     r"instru(?:ções|coes)\s+(?:iniciais|originais|do\s+sistema|ocultas|secretas)|(?:initialen|urspr(?:ü|u)nglichen|"
     r"geheimen|versteckten|ersten)\s+(?:anweisungen|instruktionen)|systemanweisungen|systemnachricht|"
     r"systeminstruktionen)"),
    ("system_prompt_extraction", 0.35, "^répète|répètes|répétez|repete|repetes|repetez|affiche|affichez|montre|"
     "montrez|donne|donnez|écris|écrivez|ecris|ecrivez|récite|récitez|recite|recitez|wiederhole|zeig|zeige|gib|nenne|"
     "verrate|muestra|muéstrame|muestrame|dime|dame|repite|revela|escribe|mostra|mostrami|dimmi|ripeti|rivela|scrivi|"
     "mostre|diga|repita|revele & instructions|consignes|anweisungen|instruktionen|instrucciones|istruzioni|"
     "instruções|instrucoes|prompt|regeln|reglas|regole|règles|regles|regras|directives|directivas|direttive|vorgaben",
     r"\b(?:r(?:é|e)p(?:è|é|e)te[sz]?|affichez?|montrez?|donnez?|(?:é|e)cri(?:s|vez)|r(?:é|e)cite[sz]?|wiederhole|"
     r"zeige?|gib|nenne|verrate|mu(?:é|e)stra(?:me)?|dime|dame|repite|revela|escribe|mostra(?:mi)?|dimmi|ripeti|"
     r"rivela|scrivi|mostre|diga|repita|revele)\s+(?:\w+\s+){0,2}?(?:tes|vos|votre|ton|dein(?:e[nmrs]?)?|ihre?n?|tus|"
     r"sus|tu|su|le\s+tue|tue|i\s+tuoi|tuoi|suas|seus|as\s+suas)\s+(?:\w+\s+)?(?:instructions|consignes|anweisungen|"
     r"instruktionen|instrucciones|istruzioni|instru(?:ções|coes)|prompt|regeln|reglas|regole|r(?:è|e)gles|regras|"
     r"directives|directivas|direttive|vorgaben)\b(?!\s+(?:pour|f(?:ü|u)r|para|per|sur|sobre|zu|zum|zur|de|del|di|"
     r"do|da)\b)"),
]
