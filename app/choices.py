"""The enumerations a person picks from (profile forms, the staff import template's dropdowns, statistics):
stored as these Chinese values, the same in every language, like the values the real platforms exchange."""

EDUCATION = ["博士研究生", "硕士研究生", "大学本科", "大学专科", "中等专科", "高中及以下"]
DEGREES = ["博士", "硕士", "学士", "无"]
ETHNICITIES = ["汉族", "回族", "满族", "蒙古族", "壮族", "维吾尔族", "藏族", "苗族", "彝族", "土家族", "朝鲜族", "其他"]
TITLE_SERIES = ["工程技术", "卫生技术", "经济", "会计", "统计", "中小学教师", "高等学校教师", "农业技术", "新闻",
                "出版", "翻译", "律师", "工艺美术", "其他"]
TITLE_LEVELS = ["正高级", "副高级", "中级", "初级", "未定级"]
ORG_NATURES = ["机关", "事业单位", "国有企业", "民营企业", "外资企业", "社会组织", "其他"]
INDUSTRIES = ["教育", "卫生健康", "工程建设", "农业", "制造业", "信息技术", "金融", "文化传媒", "其他"]
